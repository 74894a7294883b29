"""Conversations: the list with filters, a transcript with citations and feedback, delete and
restore, and exports.

Filters are the API's own (`GET /conversation` and `/conversation/deleted` take `agent_id`,
`from`/`to` on the last activity, `rating` and `lead`), so they apply to every conversation, not
to a page of them. "Export these conversations" downloads the API's export
(`GET /conversation/export`, CSV, one row per message) with the same filters, passed on byte for
byte; one conversation's export is the conversation and its messages (with citations) and
feedback as the API gives them, in one JSON file.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import Response, StreamingResponse

from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.playground import agents_of, signed_in
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render

router = APIRouter(prefix=PREFIX)
PageDep = Annotated[Page, Depends(page_of)]
RATINGS = ("", "positive", "negative", "unrated")
PER_PAGE = 20


def _day(value: str) -> str:
    try:
        return dt.date.fromisoformat(value.strip()).isoformat() if value.strip() else ""
    except ValueError:
        return ""


@dataclass(frozen=True, slots=True)
class Filters:
    agent: str = ""
    since: str = ""  # YYYY-MM-DD, inclusive, on the last activity
    until: str = ""
    rating: str = ""  # positive | negative | unrated
    lead: str = ""  # with | without
    deleted: bool = False

    @classmethod
    def of(cls, agent: str, since: str, until: str, rating: str, lead: str, show: str) -> Filters:
        try:
            agent = str(uuid.UUID(agent)) if agent else ""
        except ValueError:
            agent = ""
        since, until = _day(since), _day(until)
        if since and until and since > until:
            since, until = until, since
        return cls(agent=agent, since=since, until=until, rating=rating if rating in RATINGS else "",
                   lead=lead if lead in ("with", "without") else "", deleted=show == "deleted")

    def params(self) -> dict[str, str]:
        """The filters as the API's query parameters."""
        found = {"agent_id": self.agent, "from": self.since, "to": self.until, "rating": self.rating,
                 "lead": self.lead}
        return {k: v for k, v in found.items() if v}


def verdict(feedback: list[dict[str, Any]]) -> str:
    """A conversation's rating: "up" or "down" by its latest vote, "none" without any."""
    if not feedback:
        return "none"
    last = feedback[-1]
    if last.get("thumbs") in ("up", "down"):
        return str(last["thumbs"])
    return "up" if int(last.get("rating") or 0) >= 3 else "down"


async def _feedback(page: Page, conversation_id: str) -> list[dict[str, Any]]:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", f"/api/v1/conversation/{conversation_id}/feedback",
                               client=page.client)
    return list(body.get("feedback") or [])


@router.get("/conversations")
async def conversations(
    page: PageDep, agent: str = "", since: Annotated[str, Query(alias="from")] = "",
    until: Annotated[str, Query(alias="to")] = "", rating: str = "", lead: str = "",
    show: str = "", number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    assert page.session is not None
    f = Filters.of(agent, since, until, rating, lead, show)
    path = "/api/v1/conversation/deleted" if f.deleted else "/api/v1/conversation"
    agents, body = await asyncio.gather(
        agents_of(page), page.api.call(page.session, "GET", path, client=page.client,
                                       params={**f.params(), "page": number, "per_page": PER_PAGE})
    )
    rows = list(body.get("deleted_conversations" if f.deleted else "conversations") or [])
    ratings = dict(zip([r["id"] for r in rows], await asyncio.gather(
        *(_feedback(page, r["id"]) for r in rows)), strict=True)) if not f.deleted else {}
    verdicts = {cid: verdict(fb) for cid, fb in ratings.items()}
    pagination = body.get("pagination") or {}
    query = {"agent": f.agent, "from": f.since, "to": f.until, "rating": f.rating, "lead": f.lead}
    kept = {k: v for k, v in query.items() if v} | ({"show": "deleted"} if f.deleted else {})

    def page_query(n: int) -> str:
        return urlencode({**kept, "page": n})

    return await render(page, "conversations.html", rows=rows, verdicts=verdicts, f=f, agents=agents,
                        pagination=pagination, number=number, page_query=page_query,
                        export_query=urlencode({k: v for k, v in kept.items() if k != "show"}))


@router.get("/conversations/export")
async def export_all(
    page: PageDep, agent: str = "", since: Annotated[str, Query(alias="from")] = "",
    until: Annotated[str, Query(alias="to")] = "", rating: str = "", lead: str = "",
) -> Response:
    """The API's export of the conversations the filters select (CSV), passed on as a download."""
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    assert page.session is not None
    f = Filters.of(agent, since, until, rating, lead, "")
    body = await page.api.stream(page.session, "/api/v1/conversation/export", client=page.client,
                                 params={**f.params(), "format": "csv"})
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="conversations-{stamp}.csv"',
        "Cache-Control": "no-store",
    })


async def _transcript(page: Page, conversation_id: str, number: int = 1) -> tuple[
    dict[str, Any], dict[str, Any], list[dict[str, Any]]
]:
    """The conversation, one page of its messages (100, oldest first, with pagination), its feedback."""
    assert page.session is not None
    path = f"/api/v1/conversation/{conversation_id}"
    detail, messages, feedback = await asyncio.gather(
        page.api.call(page.session, "GET", path, client=page.client),
        page.api.call(page.session, "GET", f"{path}/messages", client=page.client,
                      params={"per_page": 100, "page": number}),
        _feedback(page, conversation_id),
    )
    return detail["conversation"], messages, feedback


@router.get("/conversations/{conversation_id}")
async def transcript(
    page: PageDep, conversation_id: uuid.UUID,
    number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    conversation, messages, feedback = await _transcript(page, str(conversation_id), number)
    by_message = {fb["message_id"]: fb for fb in feedback if fb.get("message_id")}
    rows = list(messages.get("messages") or [])
    return await render(page, "transcript.html", c=conversation, messages=rows,
                        pagination=messages.get("pagination") or {}, number=number,
                        feedback=by_message)


@router.post("/conversations/{conversation_id}/feedback/{message_id}")
async def give_feedback(
    page: PageDep, conversation_id: uuid.UUID, message_id: uuid.UUID, thumbs: Annotated[str, Form()] = "",
) -> Response:
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    assert page.session is not None
    await page.api.call(page.session, "POST", f"/api/v1/message/{message_id}/feedback", client=page.client,
                        json={"thumbs": thumbs if thumbs in ("up", "down") else None})
    page.session.notice = _("Thank you: your feedback is saved.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/conversations/{conversation_id}#message-{message_id}")


@router.post("/conversations/{conversation_id}/delete")
async def delete(page: PageDep, conversation_id: uuid.UUID) -> Response:
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    assert page.session is not None
    await page.api.call(page.session, "DELETE", f"/api/v1/conversation/{conversation_id}", client=page.client)
    page.session.notice = _("The conversation is deleted. You can restore it from the deleted conversations.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/conversations")


@router.post("/conversations/{conversation_id}/restore")
async def restore(page: PageDep, conversation_id: uuid.UUID) -> Response:
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    assert page.session is not None
    await page.api.call(page.session, "PATCH", f"/api/v1/conversation/{conversation_id}/restore",
                        client=page.client)
    page.session.notice = _("The conversation is restored.")
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/conversations/{conversation_id}")


@router.get("/conversations/{conversation_id}/export")
async def export(page: PageDep, conversation_id: uuid.UUID) -> Response:
    """The conversation, its messages with citations, and its feedback, as one JSON download."""
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    conversation, first, feedback = await _transcript(page, str(conversation_id))
    messages = list(first.get("messages") or [])
    assert page.session is not None
    for number in range(2, int((first.get("pagination") or {}).get("pages") or 1) + 1):
        more = await page.api.call(page.session, "GET", f"/api/v1/conversation/{conversation_id}/messages",
                                   client=page.client, params={"per_page": 100, "page": number})
        messages += list(more.get("messages") or [])
    body = json.dumps({"conversation": conversation, "messages": messages, "feedback": feedback},
                      ensure_ascii=False, indent=2)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="conversation-{conversation_id}.json"',
        "Cache-Control": "no-store",
    })
