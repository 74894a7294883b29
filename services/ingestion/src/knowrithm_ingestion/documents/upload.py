"""Uploads: reading the request (multipart files and/or URLs, as form fields or JSON), each file
validated on its own so one bad file does not sink the others, and accepting it (`accept`).

No database transaction is open while files are read and URLs fetched (up to
`fetch_timeout_seconds` each): the agent is found in a short read of its own, and the request's
transaction starts when the accepted files are stored.

Files are read with a limit (never more than the largest file size + 1 bytes: the
`max_file_size` configuration entry, else MAX_FILE_SIZE, see Deps.max_file_size); the content decides
the type (a renamed executable is refused); URLs are fetched through the SSRF guard. A file's
name is kept only as a label: blobs are stored under generated keys.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from fastapi import Request
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from knowrithm_common.errors import (
    BadRequest,
    InvalidJSON,
    KnowrithmError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from knowrithm_common.inputs import read_form
from knowrithm_common.tenancy import Subject
from knowrithm_ingestion.agents.projection import get_agent
from knowrithm_ingestion.config import IngestionSettings
from knowrithm_ingestion.documents import service, upload_task
from knowrithm_ingestion.documents.schemas import FileError, UrlsBody
from knowrithm_ingestion.documents.service import FileInfo, NewFile, StoredFile
from knowrithm_ingestion.extraction import detect_type
from knowrithm_ingestion.extraction.model import ExtractionError, UnsupportedFileType
from knowrithm_ingestion.models import Document, DocumentSource
from knowrithm_ingestion.pipeline.deps import Deps
from knowrithm_ingestion.websites.fetch import FetchFailed, FetchRefused, FetchTooLarge, SafeFetcher


class NothingToUpload(BadRequest):
    code, message = "no_files", "Send files (multipart `files` or `file`) or URLs (`url`, `urls`)"


class TooManyFiles(BadRequest):
    code = "too_many_files"


class AgentIdRequired(ValidationFailed):
    code, message = "agent_id_required", "agent_id is required: every document trains one agent"


# The request as the OpenAPI document states it: `read_request` parses it by hand, to take both forms.
OPENAPI_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["agent_id"], "properties": {
        "agent_id": {"type": "string", "format": "uuid"},
        "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
        "file": {"type": "string", "format": "binary"},
        "url": {"type": "string"},
        "urls": {"type": "string", "description": "A JSON array of URLs, or URLs separated by commas"},
    }}},
    "application/json": {"schema": UrlsBody.model_json_schema()},
}}}


@dataclass
class UploadRequest:
    agent_id: uuid.UUID
    files: list[UploadFile] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)


def _agent_id(raw: object) -> uuid.UUID:
    if not raw:
        raise AgentIdRequired()
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise ValidationFailed("agent_id is not a valid id", detail={"field": "agent_id"}) from exc


def _split_urls(raw: str | None) -> list[str]:
    """`urls` as a JSON array or comma-separated, as the reference API takes it."""
    if not raw:
        return []
    raw = raw.strip()
    if raw.startswith("["):
        try:
            values = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationFailed("urls is not a JSON array of strings", detail={"field": "urls"}) from exc
        return [str(v).strip() for v in values if str(v).strip()]
    return [part.strip() for part in raw.split(",") if part.strip()]


async def read_request(request: Request, settings: IngestionSettings) -> UploadRequest:
    """The agent, files and URLs of an upload, from multipart form data or JSON."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        form = await read_form(request, max_files=settings.max_files_per_upload + 1, max_fields=50)
        files = [f for f in [*form.getlist("files"), *form.getlist("file")] if isinstance(f, UploadFile)]
        urls = _split_urls(_text(form.get("url"))) + _split_urls(_text(form.get("urls")))
        parsed = UploadRequest(agent_id=_agent_id(form.get("agent_id")), files=files, urls=urls)
    elif content_type.startswith("application/json"):
        try:
            body = UrlsBody.model_validate_json(await request.body())
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                raise InvalidJSON() from exc
            if any(e["loc"] == ("agent_id",) and e["type"] == "missing" for e in exc.errors()):
                raise AgentIdRequired() from exc
            raise ValidationFailed("Invalid upload request", detail=exc.errors(include_url=False)) from exc
        parsed = UploadRequest(agent_id=body.agent_id, urls=[*([body.url] if body.url else []), *body.urls])
    else:
        raise UnsupportedMediaType("Send multipart/form-data with files, or JSON with urls")
    if not parsed.files and not parsed.urls:
        raise NothingToUpload()
    if len(parsed.files) + len(parsed.urls) > settings.max_files_per_upload:
        raise TooManyFiles(f"At most {settings.max_files_per_upload} files and URLs per upload")
    return parsed


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _mb(size: int) -> str:
    # Limits below a megabyte exist since max_file_size can be configured down to 1 KiB.
    return f"{size / 1024 / 1024:.1f} MB" if size >= 1024 * 1024 else f"{size / 1024:.0f} KB"


class FileRefused(KnowrithmError):
    """One file of an upload was refused (reported per file, not raised to the client)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status_code, self.code = status, code


def _validated(data: bytes, *, filename: str, content_type: str | None, max_bytes: int) -> str:
    if len(data) > max_bytes:
        raise FileRefused(413, "file_too_large", f"{filename} is larger than the limit of {_mb(max_bytes)}")
    if not data:
        raise FileRefused(400, "empty_file", f"{filename} is empty")
    try:
        return detect_type(data, filename=filename, content_type=content_type).value
    except UnsupportedFileType as exc:
        raise FileRefused(415, exc.code, exc.reason) from exc
    except ExtractionError as exc:
        raise FileRefused(400, exc.code, exc.reason) from exc


async def read_file(upload: UploadFile, *, max_bytes: int) -> NewFile:
    """A multipart file, read up to `max_bytes` (413 above) and typed by its content."""
    filename = (upload.filename or "upload").replace("\\", "/").rsplit("/", 1)[-1][:255] or "upload"
    data = await upload.read(max_bytes + 1)
    content_type = upload.content_type
    document_type = _validated(data, filename=filename, content_type=content_type, max_bytes=max_bytes)
    return NewFile(data, FileInfo(filename=filename, document_type=document_type, content_type=content_type))


def _url_filename(url: str, content_type: str | None) -> str:
    parts = urlsplit(url)
    name = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1]) or parts.hostname or "download"
    if "." not in name and content_type and "html" in content_type:
        name += ".html"
    return name[:255]


async def fetch_url(url: str, fetcher: SafeFetcher) -> NewFile:
    """Download a URL through the SSRF guard (its `max_bytes` is the file limit) and type it like a file."""
    try:
        result = await fetcher.fetch(url)
    except FetchRefused as exc:
        raise FileRefused(400, exc.code, exc.reason) from exc
    except FetchTooLarge as exc:
        raise FileRefused(413, exc.code, exc.reason) from exc
    except FetchFailed as exc:
        raise FileRefused(400, exc.code, exc.reason) from exc
    content_type = (result.content_type or "").split(";")[0].strip() or None
    filename = _url_filename(result.url, content_type)
    document_type = _validated(
        result.content, filename=filename, content_type=content_type, max_bytes=fetcher.max_bytes
    )
    info = FileInfo(filename=filename, document_type=document_type, content_type=content_type,
                    source=DocumentSource.URL, source_url=url)
    return NewFile(result.content, info)


def file_error(name: str, exc: FileRefused) -> FileError:
    return FileError(filename=name, error=exc.code, message=exc.message, status_code=exc.status_code)


def all_failed(errors: list[FileError]) -> KnowrithmError:
    """The error of an upload none of whose files was accepted."""
    statuses = {e.status_code for e in errors}
    detail = {"failed": [e.model_dump() for e in errors]}
    message = "; ".join(e.message for e in errors)
    if statuses == {413}:
        return PayloadTooLarge(message, detail=detail)
    if statuses == {415}:
        return UnsupportedMediaType(message, detail=detail)
    error = BadRequest(message, detail=detail)
    error.code = errors[0].error if len({e.error for e in errors}) == 1 else "upload_failed"
    return error


@dataclass(frozen=True, slots=True)
class Accepted:
    """An upload's task, the documents it accepted and the files it refused (with why)."""

    task_id: uuid.UUID
    documents: Sequence[Document]
    refused: Sequence[FileError]


async def accept(session: AsyncSession, deps: Deps, *, subject: Subject, request: UploadRequest) -> Accepted:
    """Store the upload's readable files as documents of the agent, queued for processing.

    The refusal of every file is the upload's error (413, 415 or 400).
    """
    async with deps.db.sessions() as lookup:  # ends before the downloads: no transaction waits on them
        agent = await get_agent(lookup, company_id=subject.company_id, agent_id=request.agent_id,
                                owner=deps.agents)
    stored, refused = await _store_all(request, deps, agent.company_id)
    if not stored:
        raise all_failed(refused)
    task_id = await upload_task.start(session, agent.company_id)
    documents = [
        await service.create_document(
            session, company_id=agent.company_id, agent_id=agent.agent_id, user_id=subject.principal.user_id,
            stored=file, actor=subject.actor, upload_task_id=task_id,
        )
        for file in stored
    ]
    return Accepted(task_id=task_id, documents=documents, refused=refused)


async def _store_all(
    request: UploadRequest, deps: Deps, company_id: uuid.UUID
) -> tuple[list[StoredFile], list[FileError]]:
    """Every file read and every URL fetched, in order, each accepted one put in the blob store before
    the next is read (one file in memory at a time): those stored and those refused."""
    stored: list[StoredFile] = []
    refused: list[FileError] = []
    items: list[UploadFile | str] = [*request.files, *request.urls]
    for item in items:
        try:
            if isinstance(item, str):
                file = await fetch_url(item, deps.fetcher)
            else:
                file = await read_file(item, max_bytes=deps.max_file_size)
        except FileRefused as exc:
            refused.append(file_error(item if isinstance(item, str) else (item.filename or "upload"), exc))
            continue
        stored.append(await service.store_file(deps.blobs, company_id, file))
    return stored, refused
