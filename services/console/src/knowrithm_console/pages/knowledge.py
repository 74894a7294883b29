"""Knowledge: an agent's documents (upload with progress, live status, retry, delete and restore), a
document's chunks, the retrieval test, and the company's database connections (read only).

Uploads stream: the browser's multipart body goes on to `POST /api/v1/document/upload` as it
arrives when the page's script sends it (the CSRF token in the `X-CSRF-Token` header); without
script the plain form is read (Starlette spools large files to disk) and sent on. The gateway's
body limit and the API's file size limit apply; their refusal is shown above the form.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from starlette.datastructures import UploadFile

from knowrithm_console.api import ApiError, ApiUnavailable, SessionEnded, _result
from knowrithm_console.i18n import gettext as _
from knowrithm_console.i18n import ngettext
from knowrithm_console.pages.messages import message_of
from knowrithm_console.security import CSRF_HEADER
from knowrithm_console.web import PREFIX, Page, page_of, redirect, render

router = APIRouter(prefix=f"{PREFIX}/knowledge")
PageDep = Annotated[Page, Depends(page_of)]
FINAL = frozenset({"processed", "failed"})
UPLOAD_TIMEOUT = httpx.Timeout(300.0, connect=10.0)


@dataclass(frozen=True, slots=True)
class Progress:
    """A processing document's task as the API reports it."""

    stage: str | None
    percent: int


def is_final(documents: list[dict[str, Any]]) -> bool:
    """Whether nothing in `documents` is still pending or processing (the page stops polling)."""
    return all(d.get("status") in FINAL for d in documents)


def selected_ids(values: list[str]) -> list[str]:
    """The well-formed document ids of a form's checkboxes, in order, without repeats."""
    seen: dict[str, None] = {}
    for value in values:
        try:
            seen.setdefault(str(uuid.UUID(value)), None)
        except ValueError:
            continue
    return list(seen)


def _signed_in(page: Page) -> bool:
    return page.session is not None and page.session.signed_in


async def _call(page: Page, method: str, path: str, **kw: Any) -> dict[str, Any]:
    assert page.session is not None
    return await page.api.call(page.session, method, path, client=page.client, **kw)


async def _agents(page: Page) -> list[dict[str, Any]]:
    body = await _call(page, "GET", "/api/v1/agent", params={"per_page": 100})
    return list(body.get("agents") or [])


def _pick(agents: list[dict[str, Any]], wanted: str | None) -> dict[str, Any] | None:
    for agent in agents:
        if str(agent["id"]) == wanted:
            return agent
    return agents[0] if agents else None


async def _documents(page: Page, agent_id: str) -> list[dict[str, Any]]:
    body = await _call(page, "GET", f"/api/v1/document/agent/{agent_id}", params={"per_page": 100})
    documents = list(body.get("document") or [])
    for document in documents:
        document["progress"] = None
        if document.get("status") not in FINAL and document.get("task_id"):
            try:
                task = await _call(page, "GET", f"/api/v1/tasks/{document['task_id']}/status")
            except ApiError:
                continue
            document["progress"] = Progress(task.get("stage"), int(task.get("progress") or 0))
    return documents


async def _connections(page: Page) -> list[dict[str, Any]] | None:
    try:
        body = await _call(page, "GET", "/api/v1/database-connection", params={"per_page": 100})
    except ApiError as exc:
        if exc.status in (403, 404):
            return None
        raise
    connections = list(body.get("connection") or [])
    for connection in connections:  # the analysed tables' count: the total of a one-row page
        tables = await _call(page, "GET", f"/api/v1/database-connection/{connection['id']}/table",
                             params={"per_page": 1})
        connection["tables"] = int((tables.get("pagination") or {}).get("total") or 0)
    return connections


@router.get("")
async def knowledge(page: PageDep, agent_id: str = "") -> Response:
    """The agent's documents, the upload form, the retrieval test and the database connections."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    return await _knowledge_page(page, agent_id)


@router.get("/documents")
async def documents_fragment(page: PageDep, agent_id: str) -> Response:
    """The documents section alone: htmx polls it while something is processing."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    agent = await _call(page, "GET", f"/api/v1/agent/{agent_id}")
    documents = await _documents(page, agent_id)
    return await render(page, "_documents.html", agent=agent, documents=documents,
                        final=is_final(documents), polled=True)


def _upload_error(exc: ApiError) -> str:
    if exc.status == 413:
        return _("The upload is too large. Send smaller files, or fewer at once.")
    if exc.status == 415:
        return _("This type of file cannot be read. Send PDF, Word, text, CSV, JSON, XML, HTML or images.")
    return message_of(exc)


async def _token(page: Page) -> str:
    session = page.session
    assert session is not None and session.tokens is not None
    tokens = session.tokens
    if tokens.stale(page.api.leeway):
        tokens = await page.api.refresh(session, stale=tokens.access_token, client=page.client)
    return tokens.access_token


async def _send_upload(page: Page, request: Request) -> dict[str, Any]:
    """Send the upload on: the raw stream when script sent it, else the parsed form's files."""
    headers = {"X-Forwarded-For": page.client.ip, "Accept": "application/json",
               "Authorization": f"Bearer {await _token(page)}"}
    if page.client.user_agent:
        headers["User-Agent"] = page.client.user_agent
    try:
        content_type = request.headers.get("content-type", "")
        if request.headers.get(CSRF_HEADER) and content_type.startswith("multipart/form-data"):
            headers["Content-Type"] = content_type
            if request.headers.get("content-length"):  # the gateway checks its body limit up front
                headers["Content-Length"] = request.headers["content-length"]

            async def body() -> AsyncIterator[bytes]:
                async for piece in request.stream():
                    yield piece

            resp = await page.api.http.post("/api/v1/document/upload", content=body(), headers=headers,
                                            timeout=UPLOAD_TIMEOUT)
        else:
            form = await request.form()
            files = [("files", (f.filename or "file", f.file, f.content_type or "application/octet-stream"))
                     for f in form.getlist("files") if isinstance(f, UploadFile) and f.filename]
            data = {"agent_id": str(form.get("agent_id") or "")}
            resp = await page.api.http.post("/api/v1/document/upload", data=data, files=files or None,
                                            headers=headers, timeout=UPLOAD_TIMEOUT)
    except httpx.HTTPError as exc:
        raise ApiUnavailable(str(exc)) from exc
    if resp.status_code == 401:
        raise SessionEnded()
    return _result(resp)


def _upload_message(result: dict[str, Any]) -> str:
    accepted = int(result.get("documents_processed") or 0)
    text = ngettext("%(num)s file uploaded: it is being processed.",
                    "%(num)s files uploaded: they are being processed.", accepted) % {"num": accepted}
    refused = [f"{f.get('filename')}: {f.get('message')}" for f in result.get("failed") or []]
    if refused:
        text += " " + _("Refused: %(files)s") % {"files": "; ".join(refused)}
    return text


@router.post("/upload")
async def upload(page: PageDep, request: Request) -> Response:
    """Upload files for an agent; script gets JSON (it shows the progress), a plain form a redirect."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    by_script = request.headers.get(CSRF_HEADER) is not None
    agent_id = request.query_params.get("agent_id", "")
    started = time.monotonic()
    try:
        result = await _send_upload(page, request)
    except ApiError as exc:
        if by_script:
            return JSONResponse({"error": _upload_error(exc)}, status_code=exc.status)
        assert page.session is not None
        page.session.notice = _upload_error(exc)
        await page.store.save(page.session)
        return redirect(page, f"{PREFIX}/knowledge?agent_id={agent_id}")
    message = _upload_message(result)
    if by_script:
        return JSONResponse({"message": message, "seconds": round(time.monotonic() - started, 3)})
    assert page.session is not None
    page.session.notice = message
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/knowledge?agent_id={agent_id}")


async def _form_ids(request: Request) -> list[str]:
    form = await request.form()
    return selected_ids([str(v) for v in form.getlist("document_id")])


@router.post("/delete")
async def delete(page: PageDep, request: Request) -> Response:
    """Soft-delete the selected documents (restorable from the deleted view)."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    form = await request.form()
    agent_id = str(form.get("agent_id") or "")
    ids = await _form_ids(request)
    assert page.session is not None
    if not ids:
        page.session.notice = _("Select the documents to delete first.")
    else:
        result = await _call(page, "DELETE", "/api/v1/document/bulk-delete", json={"document_ids": ids})
        count = int(result.get("deleted_documents_count") or 0)
        page.session.notice = ngettext(
            "%(num)s document deleted. You can restore it from Deleted documents.",
            "%(num)s documents deleted. You can restore them from Deleted documents.", count,
        ) % {"num": count}
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/knowledge?agent_id={agent_id}")


@router.get("/deleted")
async def deleted(page: PageDep) -> Response:
    """The company's deleted documents, to restore."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    body = await _call(page, "GET", "/api/v1/document/deleted", params={"per_page": 100})
    return await render(page, "knowledge_deleted.html", documents=list(body.get("deleted_documents") or []))


@router.post("/restore")
async def restore(page: PageDep, request: Request) -> Response:
    """Restore the selected deleted documents with their chunks."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    ids = await _form_ids(request)
    for document_id in ids:
        await _call(page, "PATCH", f"/api/v1/document/{document_id}/restore")
    assert page.session is not None
    page.session.notice = (ngettext("%(num)s document restored.", "%(num)s documents restored.", len(ids))
                           % {"num": len(ids)} if ids else _("Select the documents to restore first."))
    await page.store.save(page.session)
    return redirect(page, f"{PREFIX}/knowledge/deleted")


@router.get("/documents/{document_id}")
async def chunks(page: PageDep, document_id: uuid.UUID) -> Response:
    """A document's chunks (page and text), with delete; its deleted chunks, with restore."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    document = await _call(page, "GET", f"/api/v1/document/{document_id}")
    live = await _call(page, "GET", f"/api/v1/document/{document_id}/chunk", params={"per_page": 100})
    gone = await _call(page, "GET", "/api/v1/document/chunk/deleted", params={"per_page": 100})
    removed = [c for c in gone.get("deleted_chunks") or [] if str(c.get("document_id")) == str(document_id)]
    return await render(page, "knowledge_chunks.html", document=document, chunks=live.get("chunks") or [],
                        deleted_chunks=removed)


@router.post("/documents/{document_id}/retry")
async def retry(page: PageDep, document_id: uuid.UUID, request: Request) -> Response:
    """Process a failed document again (admins); the documents section then follows it live."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    form = await request.form()
    agent_id = str(form.get("agent_id") or "")
    try:
        await _call(page, "POST", f"/api/v1/document/{document_id}/retry")
        notice = _("The document is being processed again.")
    except ApiError as exc:
        if exc.status != 409:
            raise
        notice = message_of(exc)
    if not page.htmx:
        await _notice(page, notice)
        return redirect(page, f"{PREFIX}/knowledge?agent_id={agent_id}")
    agent = await _call(page, "GET", f"/api/v1/agent/{agent_id}")
    documents = await _documents(page, agent_id)
    return await render(page, "_documents.html", agent=agent, documents=documents,
                        final=is_final(documents), retried=notice)


@router.post("/chunks/{chunk_id}/delete")
async def delete_chunk(page: PageDep, chunk_id: uuid.UUID, request: Request) -> Response:
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    result = await _call(page, "DELETE", f"/api/v1/document/chunk/{chunk_id}")
    assert page.session is not None
    page.session.notice = _("Chunk %(num)s deleted.") % {"num": int(result.get("chunk_index", 0)) + 1}
    await page.store.save(page.session)
    form = await request.form()
    ids = selected_ids([str(form.get("document_id"))])
    return redirect(page, f"{PREFIX}/knowledge/documents/{ids[0]}" if ids else f"{PREFIX}/knowledge")


@router.post("/chunks/{chunk_id}/restore")
async def restore_chunk(page: PageDep, chunk_id: uuid.UUID, request: Request) -> Response:
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    result = await _call(page, "PATCH", f"/api/v1/document/chunk/{chunk_id}/restore")
    assert page.session is not None
    page.session.notice = _("Chunk %(num)s restored.") % {"num": int(result.get("chunk_index", 0)) + 1}
    await page.store.save(page.session)
    form = await request.form()
    ids = selected_ids([str(form.get("document_id"))])
    return redirect(page, f"{PREFIX}/knowledge/documents/{ids[0]}" if ids else f"{PREFIX}/knowledge")


@router.get("/search")
async def search(page: PageDep, agent_id: str, query: str = "") -> Response:
    """The retrieval test: the passages the agent would get for `query`, with scores and pages."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    error, results = None, None
    if not query.strip():
        error = _("Type what a person would ask.")
    else:
        try:
            body = await _call(page, "POST", "/api/v1/search/document",
                               json={"query": query, "agent_id": agent_id, "limit": 5})
            results = list(body.get("results") or [])
        except ApiError as exc:
            if exc.status not in (400, 422):
                raise
            error = message_of(exc)
    if not page.htmx:
        return await _knowledge_page(page, agent_id, query=query, results=results, search_error=error)
    return await render(page, "_retrieval.html", agent={"id": agent_id}, query=query, results=results,
                        search_error=error, swapped=True)



async def _sources(page: Page, agent_id: str) -> list[dict[str, Any]]:
    body = await _call(page, "GET", f"/api/v1/website/agent/{agent_id}/sources")
    return list(body.get("website_sources") or [])


async def _knowledge_page(page: Page, agent_id: str, *, status: int = 200, **context: Any) -> Response:
    agents = await _agents(page)
    agent = _pick(agents, agent_id)
    documents = await _documents(page, str(agent["id"])) if agent else []
    sources = await _sources(page, str(agent["id"])) if agent else []
    return await render(
        page, "knowledge.html", status=status, agents=agents, agent=agent, documents=documents,
        final=is_final(documents), connections=await _connections(page), sources=sources, **context,
    )


async def _notice(page: Page, text: str) -> None:
    assert page.session is not None
    page.session.notice = text
    await page.store.save(page.session)


@router.post("/url")
async def add_url(page: PageDep, request: Request) -> Response:
    """One web page as a document of the agent (the documents API fetches it)."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    form = await request.form()
    agent_id, url = str(form.get("agent_id") or ""), str(form.get("url") or "").strip()
    try:
        await _call(page, "POST", "/api/v1/document/upload", json={"agent_id": agent_id, "url": url})
    except ApiError as exc:
        if exc.status not in (400, 413, 415, 422):
            raise
        return await _knowledge_page(page, agent_id, status=exc.status, url_value=url,
                                     url_error=_url_error(exc))
    await _notice(page, _("The page is being fetched: it appears under Documents."))
    return redirect(page, f"{PREFIX}/knowledge?agent_id={agent_id}")


def _url_error(exc: ApiError) -> str:
    found = exc.field_errors()
    if found:
        return next(iter(found.values()))
    if isinstance(exc.detail, dict) and exc.detail.get("failed"):
        first = exc.detail["failed"][0]
        if isinstance(first, dict) and first.get("message"):
            return str(first["message"])
    return message_of(exc)


@router.post("/sites")
async def add_site(page: PageDep, request: Request) -> Response:
    """Register a web site for the agent; the API queues its first crawl."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    form = await request.form()
    agent_id, base_url = str(form.get("agent_id") or ""), str(form.get("base_url") or "").strip()
    try:
        created = await _call(page, "POST", "/api/v1/website/source",
                              json={"agent_id": agent_id, "base_url": base_url})
    except ApiError as exc:
        if exc.status not in (400, 409, 422):
            raise
        return await _knowledge_page(page, agent_id, status=exc.status, site_value=base_url,
                                     site_error=exc.field_errors().get("base_url") or message_of(exc))
    await _notice(page, _("The site is being crawled: its pages appear as they are read."))
    return redirect(page, f"{PREFIX}/knowledge/sites/{created['website_source']['id']}")


@router.get("/sites/{source_id}")
async def site(page: PageDep, source_id: uuid.UUID) -> Response:
    """A web site source and its pages (crawled, failed with the reason, excluded, pending)."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    body = await _call(page, "GET", f"/api/v1/website/source/{source_id}/pages")
    source = body.get("website_source") or {}
    running = source.get("last_crawl_status") in (None, "pending", "crawling")
    return await render(page, "knowledge_site.html", source=source, pages=body.get("pages") or [],
                        running=running, polled=page.htmx)


@router.post("/sites/{source_id}/crawl")
async def crawl(page: PageDep, source_id: uuid.UUID) -> Response:
    """Crawl the site again (the API refuses while a crawl is running: its message is shown)."""
    if not _signed_in(page):
        return redirect(page, f"{PREFIX}/sign-in")
    try:
        await _call(page, "POST", f"/api/v1/website/source/{source_id}/crawl")
        await _notice(page, _("A new crawl is queued."))
    except ApiError as exc:
        if exc.status != 409:
            raise
        await _notice(page, message_of(exc))
    return redirect(page, f"{PREFIX}/knowledge/sites/{source_id}")
