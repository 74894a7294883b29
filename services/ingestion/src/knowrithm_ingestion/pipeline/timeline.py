"""The stage a ProcessDocument run is in, and the history rows it writes as it goes (documents/history.py).

Stage completions that change nothing else on the document (extracting, chunking, embedding) are
written in a short transaction of their own; the start, the end and a failure are written in the
transaction that changes the document's status.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field

from knowrithm_common.db.base import utcnow
from knowrithm_ingestion.documents import history
from knowrithm_ingestion.documents import repository as repo
from knowrithm_ingestion.documents.history import Stage, StageStatus
from knowrithm_ingestion.models import Document
from knowrithm_ingestion.pipeline.deps import Deps


@dataclass
class Run:
    """One delivery of a document's processing: which stage it is in and since when."""

    document: Document  # as the run started (detached)
    delivery: int
    stage: Stage = Stage.PROCESSING
    began: float = field(default_factory=time.perf_counter)
    began_at: dt.datetime = field(default_factory=utcnow)
    started: float = field(default_factory=time.perf_counter)

    def enter(self, stage: Stage) -> None:
        self.stage, self.began, self.began_at = stage, time.perf_counter(), utcnow()

    def stage_ms(self) -> int:
        return int((time.perf_counter() - self.began) * 1000)

    def run_ms(self) -> int:
        return int((time.perf_counter() - self.started) * 1000)


async def stage_done(deps: Deps, run: Run, *, detail: str | None, then: Stage) -> None:
    """Record the current stage as completed (with its duration) and enter `then`."""
    async with deps.db.session() as session, session.begin():
        document = await repo.get_document(session, run.document.id, run.document.company_id, deleted=None)
        if document is not None:
            history.record(session, document, stage=run.stage, status=StageStatus.COMPLETED, at=run.began_at,
                           duration_ms=run.stage_ms(), delivery=run.delivery, detail=detail)
    run.enter(then)


async def stage_failed(deps: Deps, run: Run, *, status: StageStatus, reason: str, code: str | None) -> None:
    """Record that the current stage failed and the job is delivered again (retrying) or was parked
    (dead-lettered); the document's status does not change here."""
    async with deps.db.session() as session, session.begin():
        document = await repo.get_document(session, run.document.id, run.document.company_id, deleted=None)
        if document is not None:
            history.record(session, document, stage=run.stage, status=status, at=run.began_at,
                           duration_ms=run.stage_ms(), delivery=run.delivery, reason=reason, code=code)
