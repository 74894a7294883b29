"""A stored connection as an engine takes it: the one way every use (test, queries, analysis,
export) turns a `DatabaseConnection` into the engines' `ConnectionSpec`.

The URL is decrypted with the ingestion's ENCRYPTION_KEY; a SQLite connection gets a local path of
the file the company uploaded (the blob store's own file when it is on local disk, which the
engine opens read-only and immutable; else a temporary copy, removed afterwards). Errors are the
shared ones, with a reason a person can act on: 503 `encryption_not_configured`, 422
`connection_url_unreadable` (the key changed, or the stored parameters no longer validate), 503
`sqlite_file_missing`.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from pydantic import ValidationError

from knowrithm_common.errors import ServiceUnavailable, ValidationFailed
from knowrithm_ingestion.blobs import BlobStore, LocalBlobStore
from knowrithm_ingestion.databases.connections.service import EncryptionNotConfigured, connection_spec
from knowrithm_ingestion.databases.engines import ConnectionParams, ConnectionSpec
from knowrithm_ingestion.models import DatabaseConnection
from knowrithm_ingestion.pipeline.deps import Deps

# Every mode reaches the engines (PostgreSQL passes `allow`/`prefer` to libpq, MySQL/MariaDB use TLS
# when the server offers it). MongoDB has no "TLS if offered": a MongoDB connection stored with
# `allow`/`prefer` before they were refused connects as it did then, as without a mode.
_NO_OPPORTUNISTIC_TLS = {"mongodb"}


class UnreadableConnectionUrl(ValidationFailed):
    code = "connection_url_unreadable"
    message = "The stored URL cannot be read with the current ENCRYPTION_KEY; give the URL again"


class SqliteFileMissing(ServiceUnavailable):
    code, message = "sqlite_file_missing", "The connection's SQLite file is missing from the blob store"


def engine_params(connection: DatabaseConnection) -> ConnectionParams:
    """The connection's allow-listed parameters as the engines take them."""
    params = dict(connection.connection_params or {})
    if connection.database_type in _NO_OPPORTUNISTIC_TLS and params.get("sslmode") in ("allow", "prefer"):
        params.pop("sslmode", None)
    try:
        return ConnectionParams(**params)
    except ValidationError as exc:
        raise UnreadableConnectionUrl("The connection's parameters are not valid; update them") from exc


@asynccontextmanager
async def engine_spec(deps: Deps, connection: DatabaseConnection) -> AsyncIterator[ConnectionSpec]:
    """The connection as its engine takes it: decrypted URL, or for SQLite a local path of its file
    (the blob store's own file when it is local, opened read-only and immutable; else a temporary copy
    removed afterwards)."""
    params = engine_params(connection)
    if connection.database_type == "sqlite":
        async with _sqlite_path(deps.blobs, connection) as path:
            yield ConnectionSpec(engine="sqlite", url=str(path), params=params)
        return
    box = deps.settings.secret_box()
    if box is None:
        raise EncryptionNotConfigured()
    try:
        spec = connection_spec(connection, box)
    except Exception as exc:  # UndecryptableSecret: the key changed
        raise UnreadableConnectionUrl() from exc
    if not spec.url:
        raise UnreadableConnectionUrl("The connection has no URL")
    yield ConnectionSpec(engine=spec.engine.value, url=spec.url, params=params)


@asynccontextmanager
async def _sqlite_path(blobs: BlobStore, connection: DatabaseConnection) -> AsyncIterator[Path]:
    key = connection.sqlite_blob_key
    if not key:
        raise SqliteFileMissing()
    if isinstance(blobs, LocalBlobStore):
        path = blobs._path(key)
        if not path.is_file():
            raise SqliteFileMissing()
        yield path
        return
    from knowrithm_ingestion.blobs import BlobNotFound

    try:
        data = await blobs.get(key)
    except BlobNotFound as exc:
        raise SqliteFileMissing() from exc
    with tempfile.TemporaryDirectory(prefix="knowrithm-sqlite-") as tmp:
        path = Path(tmp) / "db.sqlite"
        path.write_bytes(data)
        os.chmod(path, 0o400)
        yield path
