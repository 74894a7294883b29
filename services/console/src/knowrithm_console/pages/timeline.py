"""A document's processing timeline: each stage of each attempt with its time (the user's time zone)
and duration, the failure and dead-letter reasons in words, and Reprocess for admins.

Read from `GET /api/v1/document/{id}/history`; while the document is pending or processing the
timeline section re-fetches itself every 2 s (htmx) and the newest stage is announced in its
`role=status` line; the version rendered once the document is final has no timer.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import N_, PREFIX, Page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/knowledge")
PageDep = Annotated[Page, Depends(page_of)]
FINAL = frozenset({"processed", "failed"})

STAGES: dict[str, str] = {
    "received": N_("Received and queued"), "retry": N_("Retry requested"),
    "reprocess": N_("Reprocessing requested"), "processing": N_("Picked up for processing"),
    "extracting": N_("Reading the text"), "chunking": N_("Splitting into chunks"),
    "embedding": N_("Computing embeddings"), "indexing": N_("Adding to the search index"),
    "processed": N_("Processed"),
}
STATUSES: dict[str, str] = {
    "queued": N_("Queued"), "started": N_("Started"), "completed": N_("Done"),
    "retrying": N_("Failed, tried again"), "failed": N_("Failed"), "dead_lettered": N_("Set aside"),
}
BADGES = {"completed": "badge-ok", "failed": "badge-error", "dead_lettered": "badge-error",
          "retrying": "badge-warn"}


def _reasons() -> dict[str, str]:
    # Built per call: each msgid is translated into the current request's language.
    return {
        "agent_not_configured": _("The agent has no embedding settings. Add LLM and embedding settings for "
                                  "it or its company, then reprocess."),
        "file_missing": _("The uploaded file is no longer stored. Upload it again."),
        "no_text": _("No text was found in the file (is it empty, or an image without readable text?)."),
        "dead_lettered": _("Processing stopped after several attempts and was set aside. Reprocess it, or "
                           "contact support if it happens again."),
        "processing_error": _("An unexpected error interrupted processing; it was tried again."),
    }


@dataclass(frozen=True, slots=True)
class Attempt:
    """One processing run and its transitions, oldest first."""

    number: int
    events: list[dict[str, Any]]


def attempts_of(events: list[dict[str, Any]]) -> list[Attempt]:
    """The history's transitions grouped by attempt, newest attempt first."""
    runs: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        runs.setdefault(int(event.get("attempt") or 1), []).append(event)
    return [Attempt(n, runs[n]) for n in sorted(runs, reverse=True)]


def reason_of(event: dict[str, Any]) -> str | None:
    """A failure's reason in the reader's language where its code is known, else the API's words."""
    if event.get("status") == "dead_lettered":
        return _reasons()["dead_lettered"]
    return _reasons().get(str(event.get("code") or "")) or event.get("reason")


def duration(page: Page, ms: int | None) -> str:
    """`ms` as a person reads it: 340 ms, 2.5 s, 3 min 5 s."""
    if ms is None:
        return ""
    if ms < 1000:
        return _("%(num)s ms") % {"num": page.l10n.number(ms)}
    if ms < 60_000:
        return _("%(num)s s") % {"num": page.l10n.number(round(ms / 1000, 1))}
    minutes, seconds = divmod(round(ms / 1000), 60)
    return _("%(min)s min %(sec)s s") % {"min": minutes, "sec": seconds}


def latest(events: list[dict[str, Any]]) -> str:
    """The newest transition in words (announced while the timeline follows a run)."""
    if not events:
        return ""
    last = events[-1]
    stage = _(STAGES.get(last["stage"], last["stage"]))
    return f"{stage}: {_(STATUSES.get(last['status'], last['status']))}"


async def _timeline(page: Page, document_id: uuid.UUID, **context: Any) -> Response:
    assert page.session is not None
    document = await page.api.call(page.session, "GET", f"/api/v1/document/{document_id}", client=page.client)
    history = await page.api.call(page.session, "GET", f"/api/v1/document/{document_id}/history",
                                  client=page.client)
    events = list(history.get("events") or [])
    return await render(
        page, "knowledge_timeline.html", document=document, history=history, attempts=attempts_of(events),
        running=history.get("status") not in FINAL, latest=latest(events), stages=STAGES, statuses=STATUSES,
        badges=BADGES, reason_of=reason_of, duration=lambda ms: duration(page, ms), polled=page.htmx,
        **context,
    )


@router.get("/documents/{document_id}/timeline")
async def timeline(page: PageDep, document_id: uuid.UUID, followed: bool = False) -> Response:
    """A document's processing timeline (members read it; polled while it runs; `followed`: after a
    reprocess, its notice stays so the focus on it does too)."""
    if page.session is None or not page.session.signed_in:
        return redirect(page, f"{PREFIX}/sign-in")
    return await _timeline(page, document_id, followed=followed)


@router.post("/documents/{document_id}/reprocess")
async def reprocess(page: PageDep, document_id: uuid.UUID) -> Response:
    """Process the document again (admins); the timeline then follows the new attempt live."""
    if page.session is None or not page.session.signed_in:
        return redirect(page, f"{PREFIX}/sign-in")
    try:
        await page.api.call(page.session, "POST", f"/api/v1/document/{document_id}/reprocess",
                            client=page.client)
        notice = _("The document is being processed again: the new attempt appears below.")
    except ApiError as exc:
        if exc.status != 409:
            raise
        notice, followed = message_of(exc), False
    else:
        followed = True
    if not page.htmx:
        page.session.notice = notice
        await page.store.save(page.session)
        return redirect(page, f"{PREFIX}/knowledge/documents/{document_id}/timeline")
    return await _timeline(page, document_id, reprocessed=notice, followed=followed)
