"""Playground: chat with any agent; the answer streams in word by word, then shows its citations.

The browser never holds the API token: `chat.js` posts the question here (the console creates
the conversation on the first question and calls the chat route), then reads the answer's SSE
stream from this console, which opens the gateway's stream with the user's token and passes its
bytes on. When the answer completes the script fetches it rendered (`_answer.html`: text,
citations, "I don't know" badge, latency and tokens) and appends it to the answers log.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form
from fastapi.responses import JSONResponse, Response, StreamingResponse

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render

router = APIRouter(prefix=PREFIX)
PageDep = Annotated[Page, Depends(page_of)]


def signed_in(page: Page) -> bool:
    return page.session is not None and page.session.signed_in


async def agents_of(page: Page) -> list[dict[str, Any]]:
    assert page.session is not None
    body = await page.api.call(page.session, "GET", "/api/v1/agent", client=page.client,
                               params={"per_page": 100})
    return list(body.get("agents") or [])


@router.get("/playground")
async def playground(page: PageDep, agent: str = "") -> Response:
    """The chat form with the agent picked (the first one unless the address names one)."""
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    agents = await agents_of(page)
    chosen = next((a for a in agents if a["id"] == agent), agents[0] if agents else None)
    return await render(page, "playground.html", agents=agents, chosen=chosen)


@router.post("/playground/ask")
async def ask(
    page: PageDep, agent_id: Annotated[str, Form()] = "", message: Annotated[str, Form()] = "",
    conversation_id: Annotated[str, Form()] = "",
) -> Response:
    """Send a question. The script gets JSON (its conversation, answer and stream); a browser
    without the script waits for the answer and goes to the conversation's transcript."""
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    assert page.session is not None
    wants_json = "application/json" in page.request.headers.get("accept", "")
    try:
        if not message.strip():
            raise ApiError(422, "message_required", _("Type a question first."))
        if not conversation_id:
            created = await page.api.call(page.session, "POST", "/api/v1/conversation", client=page.client,
                                          json={"agent_id": agent_id, "title": _("Playground")})
            conversation_id = str(created["conversation"]["id"])
        uuid.UUID(conversation_id)
        queued = await page.api.call(
            page.session, "POST", f"/api/v1/conversation/{conversation_id}/chat", client=page.client,
            json={"message": message}, params=None if wants_json else {"wait": "true"},
        )
    except (ApiError, ValueError) as exc:
        error = message_of(exc) if isinstance(exc, ApiError) else _("This conversation does not exist.")
        if wants_json:
            # The conversation made for this question (if any) is kept for the next one.
            return JSONResponse({"error": error, "conversation_id": conversation_id},
                                status_code=getattr(exc, "status", 422),
                                headers={"Cache-Control": "no-store"})
        raise
    if not wants_json:
        return redirect(page, f"{PREFIX}/conversations/{conversation_id}")
    answer = str(queued["assistant_message_id"])
    return JSONResponse({
        "conversation_id": conversation_id, "message_id": answer,
        "stream_url": f"{PREFIX}/playground/stream?conversation={conversation_id}&message={answer}",
        "answer_url": f"{PREFIX}/playground/answer?conversation={conversation_id}&message={answer}",
    }, headers={"Cache-Control": "no-store"})


@router.get("/playground/stream")
async def stream(page: PageDep, conversation: uuid.UUID, message: uuid.UUID) -> Response:
    """The answer's server-sent events, read from the API with the user's token."""
    if not signed_in(page):
        return Response(status_code=401)
    assert page.session is not None
    body = await page.api.stream(page.session, f"/api/v1/conversation/{conversation}/messages/stream",
                                 client=page.client, params={"message_id": str(message)})
    return StreamingResponse(body, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def find_message(page: Page, conversation: uuid.UUID, message: uuid.UUID) -> dict[str, Any] | None:
    """One message of a conversation (the newest page first: a playground answer is recent)."""
    assert page.session is not None
    path = f"/api/v1/conversation/{conversation}/messages"
    first = await page.api.call(page.session, "GET", path, client=page.client, params={"per_page": 100})
    pages = int((first.get("pagination") or {}).get("pages") or 1)
    found = next((m for m in first.get("messages") or [] if m["id"] == str(message)), None)
    if found is None and pages > 1:
        last = await page.api.call(page.session, "GET", path, client=page.client,
                                   params={"per_page": 100, "page": pages})
        found = next((m for m in last.get("messages") or [] if m["id"] == str(message)), None)
    return found


@router.get("/playground/answer")
async def answer(page: PageDep, conversation: uuid.UUID, message: uuid.UUID) -> Response:
    """A finished answer rendered for the answers log (text, citations, latency, tokens)."""
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    found = await find_message(page, conversation, message)
    if found is None:
        raise ApiError(404, "message_not_found", _("There is no such answer."))
    return await render(page, "_answer_fragment.html", m=found)


@router.get("/passage")
async def passage(page: PageDep, document: uuid.UUID, chunk: uuid.UUID) -> Response:
    """A cited passage: its chunk with page and document name (for the citation dialog)."""
    if not signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    assert page.session is not None
    try:
        found = await page.api.call(page.session, "GET", f"/api/v1/document/chunk/{chunk}",
                                    client=page.client)
    except ApiError as exc:
        if exc.status != 404:
            raise
        found = None
    if found is not None and (found.get("deleted") or found.get("document_id") != str(document)):
        found = None  # deleted since it was cited, or not the cited document's
    return await render(page, "_passage.html", chunk=found, name=(found or {}).get("document_name") or "")
