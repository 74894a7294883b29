"""Reading a create request: JSON, or multipart form data carrying a SQLite file (`file`).

The file is read up to the upload limit (`Deps.max_file_size`, 413 above) and must start with
SQLite's header; it goes to the blob store under a generated key, so a file name never becomes
a path. No database transaction is open while it is read and stored.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from knowrithm_common.errors import InvalidJSON, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from knowrithm_common.inputs import read_form
from knowrithm_ingestion.blobs import BlobStore
from knowrithm_ingestion.databases.connections.schemas import ConnectionCreate
from knowrithm_ingestion.databases.connections.service import SqliteFile
from knowrithm_ingestion.databases.connections.urls import InvalidConnection

SQLITE_HEADER = b"SQLite format 3\x00"
FORM_FIELDS = (
    "name",
    "database_type",
    "url",
    "connection_string",
    "agent_id",
    "connection_params",
    "pool_size",
    "max_overflow",
    "company_id",
    "user_id",
)

# The request as the OpenAPI document states it: `read_create` parses it by hand, to take both forms.
OPENAPI_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": ConnectionCreate.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "database_type", "agent_id"],
                    "properties": {
                        "name": {"type": "string"},
                        "database_type": {
                            "type": "string",
                            "description": "sqlite (with `file`), or any type with `url`",
                        },
                        "agent_id": {"type": "string", "format": "uuid"},
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The SQLite database file",
                        },
                        "url": {"type": "string"},
                        "connection_params": {"type": "string", "description": "A JSON object"},
                    },
                }
            },
        },
    }
}


@dataclass
class CreateRequest:
    body: ConnectionCreate
    file: UploadFile | None = None


def _validated(raw: bytes | str) -> ConnectionCreate:
    try:
        return ConnectionCreate.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise InvalidJSON() from exc
        detail = [{"loc": ["body", *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        raise ValidationFailed(detail=detail) from exc


def _form_value(name: str, value: str) -> Any:
    if name == "connection_params":
        try:
            params = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidConnection("connection_params", "a JSON object") from exc
        if not isinstance(params, dict):
            raise InvalidConnection("connection_params", "a JSON object")
        return params
    if name in ("pool_size", "max_overflow"):
        return int(value) if value.strip().isdigit() else value
    return value


async def read_create(request: Request) -> CreateRequest:
    """The create body, from JSON or multipart form data (with the SQLite file, if any)."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        return CreateRequest(body=_validated(await request.body()))
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise UnsupportedMediaType("Send JSON, or multipart/form-data with the SQLite `file`")
    form = await read_form(request, max_files=1, max_fields=len(FORM_FIELDS) + 1)
    fields = {k: _form_value(k, v) for k, v in form.multi_items() if k in FORM_FIELDS and isinstance(v, str)}
    upload = form.get("file")
    return CreateRequest(
        body=_validated(json.dumps(fields)), file=upload if isinstance(upload, UploadFile) else None
    )


async def store_sqlite(
    upload: UploadFile, blobs: BlobStore, company_id: uuid.UUID, *, max_bytes: int
) -> SqliteFile:
    """Read an uploaded SQLite file (413 above `max_bytes`, 422 if it is not SQLite) into the blob store."""
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"The SQLite file is larger than the limit of {max_bytes} bytes")
    if not data.startswith(SQLITE_HEADER):
        raise InvalidConnection("file", "not a SQLite 3 database (its header is not 'SQLite format 3')")
    filename = (upload.filename or "database.sqlite").replace("\\", "/").rsplit("/", 1)[-1][
        :255
    ] or "database.sqlite"
    key = await blobs.put(company_id, data)
    return SqliteFile(
        blob_key=key, filename=filename, size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
