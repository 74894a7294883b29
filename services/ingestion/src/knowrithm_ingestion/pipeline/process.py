"""The ProcessDocument job: blob → extract (OCR where needed) → chunk → embed → index → record.

Idempotent by construction: chunk ids derive from (document, index), the document's vectors
are deleted before the new ones go in, and its chunk rows are replaced in one transaction
with the status change and the event. A worker killed anywhere in between leaves a document
that the redelivered job processes again from the start, ending with exactly the chunks a
clean run gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence

from prometheus_client import Counter, Histogram
from sqlalchemy import delete, insert

from knowrithm_common.db.base import utcnow
from knowrithm_common.errors import AgentNotConfigured, AgentNotFound
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.ingestion import DocumentFailedV1, DocumentProcessedV1, ProcessDocument
from knowrithm_common.messaging.jobs import JobContext
from knowrithm_common.tasks import TaskStatus, report_progress
from knowrithm_ingestion.agents.projection import get_agent
from knowrithm_ingestion.blobs import BlobNotFound
from knowrithm_ingestion.chunking import ChunkDraft, chunk_blocks
from knowrithm_ingestion.documents import history
from knowrithm_ingestion.documents import repository as repo
from knowrithm_ingestion.documents.history import Stage, StageStatus
from knowrithm_ingestion.documents.service import chunk_id
from knowrithm_ingestion.embeddings.base import Embedder, EmbeddingError, EmbeddingTask
from knowrithm_ingestion.extraction import extract
from knowrithm_ingestion.extraction.model import DocumentType, Extracted, ExtractionError
from knowrithm_ingestion.models import Chunk, Document, DocumentStatus, outbox, shared
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.pipeline.timeline import Run, stage_done, stage_failed
from knowrithm_ingestion.vectorstore.base import VectorRecord

logger = logging.getLogger(__name__)

DOCUMENTS = Counter(
    "knowrithm_ingestion_documents_total", "Documents processed", ["outcome", "document_type"]
)
STAGE_SECONDS = Histogram(
    "knowrithm_ingestion_stage_seconds", "Time per pipeline stage", ["stage"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
EMBED_BATCH = 64


class DocumentFailure(Exception):
    """Processing cannot succeed; `reason` is shown to the user on the document."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class Progress:
    """Task progress from any thread, written at most every half second (and at stage changes)."""

    def __init__(self, deps: Deps, task_id: uuid.UUID | None) -> None:
        self.deps, self.task_id = deps, task_id
        self.loop = asyncio.get_running_loop()
        self._last = 0.0

    async def report(self, percent: int, stage: str, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.task_id is None or (not force and now - self._last < 0.5):
            return
        self._last = now
        await report_progress(self.deps.db, shared.tasks, self.task_id, status=TaskStatus.RUNNING,
                              progress=percent, stage=stage)

    def from_thread(self, low: int, high: int) -> Callable[[int, int, str], None]:
        """A callback for extraction threads mapping (done, total) into [low, high] percent."""

        def callback(done: int, total: int, stage: str) -> None:
            percent = low + (high - low) * done // max(total, 1)
            label = f"{stage} page {done}/{total}"
            asyncio.run_coroutine_threadsafe(self.report(percent, label), self.loop)

        return callback


async def process_document(deps: Deps, envelope: EventEnvelope, ctx: JobContext) -> None:
    """Handle one ProcessDocument job; one escaping on its last delivery is recorded as dead-lettered."""
    job = ProcessDocument.model_validate(envelope.data)
    run: Run | None = None
    try:
        run = await _start(deps, job.document_id, envelope.company_id, ctx.attempt)
        if run is None:
            return  # deleted (or purged) since it was queued: nothing to do
        await _process(deps, run, job, ctx)
    except Exception as exc:
        if ctx.final_attempt and run is not None:
            with contextlib.suppress(Exception):  # the store may be what failed: the dead letter still goes
                await _dead_lettered(deps, run, exc, job.task_id)
        raise


async def _process(deps: Deps, run: Run, job: ProcessDocument, ctx: JobContext) -> None:
    progress = Progress(deps, job.task_id)
    document = run.document
    try:
        extracted, drafts = await _extract_and_chunk(deps, document, progress, run)
        async with deps.db.sessions() as session:
            # The upload found the agent, so the projection holds it: no need to ask its owner.
            agent = await get_agent(
                session, company_id=document.company_id, agent_id=document.agent_id, owner=None
            )
        embedder = await deps.embedder_for(agent)
        try:
            vectors = await _embed(embedder, drafts, progress)
        finally:
            await embedder.aclose()
        await stage_done(deps, run, detail=embedder.model, then=Stage.INDEXING)
        await progress.report(90, "indexing", force=True)
        records = _records(document, drafts, vectors, embedder.model)
        await deps.store.delete_documents(document.company_id, [document.id])
        await deps.store.upsert(document.company_id, records)
        await _finish(deps, run, extracted, drafts, vectors, embedder.model, job.task_id)
    except (DocumentFailure, ExtractionError) as exc:
        await _fail(deps, run, exc.code, exc.reason, job.task_id)
    except AgentNotFound:
        await _fail(deps, run, AgentNotFound.code, "The document's agent was deleted", job.task_id)
    except AgentNotConfigured as exc:
        await _fail(deps, run, exc.code, exc.message, job.task_id)
    except EmbeddingError as exc:
        if exc.retryable and not ctx.final_attempt:
            await _retrying(deps, run, reason=exc.reason, code=exc.code)
            raise
        await _fail(deps, run, exc.code, exc.reason, job.task_id)
    except Exception:
        if not ctx.final_attempt:
            await _retrying(deps, run, code="processing_error",
                            reason="An unexpected error interrupted processing; it is tried again")
            raise
        logger.exception("document %s failed on its last attempt", document.id)
        await _fail(deps, run, "processing_failed",
                    "Processing failed after several attempts; upload the file again or contact support",
                    job.task_id)


async def _retrying(deps: Deps, run: Run, *, reason: str, code: str) -> None:
    """Record that this delivery failed and the job comes back; best effort, so the job's own error is
    what JetStream's redelivery (or dead letter) carries even when the database is what failed."""
    with contextlib.suppress(Exception):
        await stage_failed(deps, run, status=StageStatus.RETRYING, reason=reason, code=code)


async def _start(
    deps: Deps, document_id: uuid.UUID, company_id: uuid.UUID | None, delivery: int
) -> Run | None:
    async with deps.db.session() as session, session.begin():
        document = await repo.get_document(session, document_id, company_id, lock=True)
        if document is None:
            return None
        document.status = DocumentStatus.PROCESSING.value
        document.processing_started_at = utcnow()
        document.processing_error = document.error_code = None
        history.record(session, document, stage=Stage.PROCESSING, status=StageStatus.STARTED,
                       delivery=delivery)
        run = Run(document=document, delivery=delivery)
    run.enter(Stage.EXTRACTING)
    return run


async def _extract_and_chunk(
    deps: Deps, document: Document, progress: Progress, run: Run
) -> tuple[Extracted, list[ChunkDraft]]:
    await progress.report(2, "reading file", force=True)
    try:
        data = await deps.blobs.get(document.blob_key)
    except BlobNotFound as exc:
        reason = "The uploaded file is no longer stored; upload it again"
        raise DocumentFailure("file_missing", reason) from exc
    with STAGE_SECONDS.labels("extract").time():
        extracted = await asyncio.to_thread(
            extract, data, document_type=DocumentType(document.document_type),
            limits=deps.settings.limits(), progress=progress.from_thread(5, 60),
        )
    await stage_done(deps, run, detail=_extraction_detail(extracted), then=Stage.CHUNKING)
    await progress.report(60, "chunking", force=True)
    s = deps.settings
    drafts = chunk_blocks(extracted.blocks, max_tokens=s.chunk_tokens, overlap_tokens=s.chunk_overlap_tokens)
    if not drafts:
        raise DocumentFailure("no_text", "No text was found in the file (is it empty, or an image without "
                                         "readable text?)")
    await stage_done(deps, run, detail=counted(len(drafts), "chunk"), then=Stage.EMBEDDING)
    return extracted, drafts


def counted(n: int, noun: str) -> str:
    """`n` `noun`s in English (the history's details are the API's words)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _extraction_detail(extracted: Extracted) -> str:
    detail = f"{counted(extracted.page_count, 'page')}, {counted(extracted.word_count, 'word')}"
    return detail + (f", OCR on {counted(extracted.ocr_pages, 'page')}" if extracted.ocr_pages else "")


async def _embed(embedder: Embedder, drafts: Sequence[ChunkDraft], progress: Progress) -> list[list[float]]:
    vectors: list[list[float]] = []
    with STAGE_SECONDS.labels("embed").time():
        for start in range(0, len(drafts), EMBED_BATCH):
            batch = [d.text for d in drafts[start:start + EMBED_BATCH]]
            vectors.extend(await embedder.embed(batch, task=EmbeddingTask.DOCUMENT))
            done = min(start + EMBED_BATCH, len(drafts))
            await progress.report(62 + 26 * done // len(drafts), f"embedding {done}/{len(drafts)} chunks")
    return vectors


def _records(document: Document, drafts: Sequence[ChunkDraft], vectors: Sequence[Sequence[float]],
             model: str) -> list[VectorRecord]:
    return [
        VectorRecord(id=chunk_id(document.id, d.index), company_id=document.company_id,
                     agent_id=document.agent_id, document_id=document.id, chunk_index=d.index, page=d.page,
                     content=d.text, model=model, vector=v)
        for d, v in zip(drafts, vectors, strict=True)
    ]


def _chunk_rows(document: Document, drafts: Sequence[ChunkDraft], vectors: Sequence[Sequence[float]],
                model: str) -> list[dict]:
    return [
        {"id": chunk_id(document.id, d.index), "company_id": document.company_id,
         "agent_id": document.agent_id,
         "document_id": document.id, "chunk_index": d.index, "content": d.text, "page": d.page,
         "heading": d.heading, "token_count": d.token_count, "word_count": d.word_count,
         "content_hash": d.content_hash, "embedding_model": model, "embedding": list(v)}
        for d, v in zip(drafts, vectors, strict=True)
    ]


async def _finish(deps: Deps, run: Run, extracted: Extracted, drafts: Sequence[ChunkDraft],
                  vectors: Sequence[Sequence[float]], model: str, task_id: uuid.UUID | None) -> None:
    document = run.document
    async with deps.db.session() as session, session.begin():
        current = await repo.get_document(session, document.id, document.company_id, deleted=None, lock=True)
        if current is None:
            await deps.store.delete_documents(document.company_id, [document.id])
            return
        await session.execute(delete(Chunk).where(Chunk.document_id == current.id))
        rows = _chunk_rows(current, drafts, vectors, model)
        for start in range(0, len(rows), 500):
            await session.execute(insert(Chunk), rows[start:start + 500])
        current.status = DocumentStatus.PROCESSED.value
        current.page_count, current.word_count = extracted.page_count, extracted.word_count
        current.chunk_count, current.ocr_pages = len(drafts), extracted.ocr_pages
        current.title = current.title or extracted.title
        current.embedding_model, current.processed_at = model, utcnow()
        if current.deleted_at is not None:  # deleted while it was processing: keep it out of search
            await repo.soft_delete_chunks(session, [current.id], current.deleted_at)
        duration_ms = run.run_ms()
        history.record(session, current, stage=Stage.INDEXING, status=StageStatus.COMPLETED, at=run.began_at,
                       duration_ms=run.stage_ms(), delivery=run.delivery,
                       detail=counted(len(drafts), "vector"))
        history.record(session, current, stage=Stage.PROCESSED, status=StageStatus.COMPLETED,
                       duration_ms=duration_ms, delivery=run.delivery)
        event = DocumentProcessedV1(
            document_id=current.id, agent_id=current.agent_id, document_type=current.document_type,
            page_count=extracted.page_count, chunk_count=len(drafts), word_count=extracted.word_count,
            ocr_pages=extracted.ocr_pages, embedding_model=model, duration_ms=duration_ms,
        )
        await outbox.add(session, event, company_id=current.company_id)
        deleted = current.deleted_at is not None
    if deleted:
        await deps.store.delete_documents(document.company_id, [document.id])
    DOCUMENTS.labels("processed", document.document_type).inc()
    if task_id is not None:
        await report_progress(deps.db, shared.tasks, task_id, status=TaskStatus.COMPLETED, progress=100,
                              stage="processed",
                              result={"document_id": str(document.id), "chunks": len(drafts),
                                      "pages": extracted.page_count})


async def _fail(deps: Deps, run: Run, code: str, reason: str, task_id: uuid.UUID | None, *,
                status: StageStatus = StageStatus.FAILED, why: str | None = None) -> None:
    """Mark the document failed with `reason`, recording the failed stage (`why`: the dead-letter error)."""
    document = run.document
    async with deps.db.session() as session, session.begin():
        current = await repo.get_document(session, document.id, document.company_id, deleted=None, lock=True)
        if current is None:
            return
        current.status = DocumentStatus.FAILED.value
        current.error_code, current.processing_error = code, reason
        history.record(session, current, stage=run.stage, status=status, at=run.began_at,
                       duration_ms=run.stage_ms(), delivery=run.delivery, reason=why or reason, code=code)
        event = DocumentFailedV1(document_id=current.id, agent_id=current.agent_id,
                                 document_type=current.document_type, code=code, reason=reason)
        await outbox.add(session, event, company_id=current.company_id)
    DOCUMENTS.labels("failed", document.document_type).inc()
    if task_id is not None:
        await report_progress(deps.db, shared.tasks, task_id, status=TaskStatus.FAILED, stage="failed",
                              error=reason)


async def _dead_lettered(deps: Deps, run: Run, exc: Exception, task_id: uuid.UUID | None) -> None:
    """The job escapes on its last delivery and goes to the dead-letter subject: the document fails
    with a reason in words, its history keeps the error the dead letter carries."""
    reason = "Processing stopped after several attempts and was set aside; reprocess it or contact support"
    await _fail(deps, run, "dead_lettered", reason, task_id, status=StageStatus.DEAD_LETTERED,
                why=f"{type(exc).__name__}: {exc}"[:500])
