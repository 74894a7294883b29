"""Conversations: the list with filters, a transcript with citations and feedback, delete and
restore, and an export of one conversation.

Filters: the API filters by agent (`GET /conversation/agent/{id}`) and lists deleted
conversations (`GET /conversation/deleted`); it has no date, rating or lead filter, so those are
applied here to the page the API returned (100 conversations a page while one is on), and the
screen says so. The API has no conversation export route: the export is the conversation and its
messages (with citations) and feedback as the API gives them, in one JSON file.
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
from fastapi.responses import Response

from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.playground import agents_of, signed_in
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render

router = APIRouter(prefix=PREFIX)
PageDep = Annotated[Page, Depends(page_of)]
RATINGS = ("", "up", "down", "none")


@dataclass(frozen=True, slots=True)
class Filters:
    agent: str = ""
    since: str = ""  # YYYY-MM-DD, inclusive, on the last activity
    until: str = ""
    rating: str = ""  # up | down | none
    lead: str = ""  # yes | no
    deleted: bool = False

    @property
    def local(self) -> bool:
        """Whether a filter the API lacks is on (applied by the console)."""
        return bool(self.since or self.until or self.rating or self.lead)


def verdict(feedback: list[dict[str, Any]]) -> str:
    """A conversation's rating: "up" or "down" by its latest vote, "none" without any."""
    if not feedback:
        return "none"
    last = feedback[-1]
    if last.get("thumbs") in ("up", "down"):
        return str(last["thumbs"])
    return "up" if int(last.get("rating") or 0) >= 3 else "down"


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def keep(conversation: dict[str, Any], rating: str, f: Filters) -> bool:
    """Whether a conversation passes the filters the console applies itself."""
    if f.lead == "yes" and conversation.get("entity_type") != "lead":
        return False
    if f.lead == "no" and conversation.get("entity_type") == "lead":
        return False
    when = str(conversation.get("last_activity") or conversation.get("created_at") or "")[:10]
    since, until = _day(f.since), _day(f.until)
    if since and (not when or dt.date.fromisoformat(when) < since):
        return False
    if until and (not when or dt.date.fromisoformat(when) > until):
        return False
    return not (f.rating and rating != f.rating)


async def _feedback(page: Page, conversation_id: str) -> list[dict[str, Any]]:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", f"/api/v1/conversation/{conversation_id}/feedback",
                               client=page.client)
    return list(body.get("feedback") or [])


@router.get("/conversations")
async def conversations(
    page: PageDep, agent: str = "", since: str = "", until: str = "", rating: str = "", lead: str = "",
    show: str = "", number: Annotated[int, Query(alias="page", ge=1, le=10_000)] = 1,
) -> Response:
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    assert page.session is not None
    try:
        agent = str(uuid.UUID(agent)) if agent else ""
    except ValueError:
        agent = ""
    f = Filters(agent=agent, since=since, until=until, rating=rating if rating in RATINGS else "",
                lead=lead if lead in ("yes", "no") else "", deleted=show == "deleted")
    params = {"page": number, "per_page": 100 if f.local else 20}
    if f.deleted:
        path = "/api/v1/conversation/deleted"
    elif f.agent:
        path = f"/api/v1/conversation/agent/{f.agent}"
    else:
        path = "/api/v1/conversation"
    agents, body = await asyncio.gather(
        agents_of(page), page.api.call(page.session, "GET", path, client=page.client, params=params)
    )
    rows = list(body.get("deleted_conversations" if f.deleted else "conversations") or [])
    if f.deleted and f.agent:
        rows = [r for r in rows if r.get("agent_id") == f.agent]
    ratings = dict(zip([r["id"] for r in rows], await asyncio.gather(
        *(_feedback(page, r["id"]) for r in rows)), strict=True)) if not f.deleted else {}
    verdicts = {cid: verdict(fb) for cid, fb in ratings.items()}
    shown = [r for r in rows if keep(r, verdicts.get(r["id"], "none"), f)]
    pagination = body.get("pagination") or {}

    def page_query(n: int) -> str:
        kept = {k: v for k, v in page.request.query_params.items() if k != "page" and v}
        return urlencode({**kept, "page": n})

    return await render(page, "conversations.html", rows=shown, verdicts=verdicts, f=f, agents=agents,
                        pagination=pagination, number=number, page_query=page_query)


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
