"""MongoDB through pymongo's AsyncMongoClient; every read is an `aggregate`.

The client connects directly (`directConnection=True`) to the checked address of the first seed
(or SRV target) that answers, so replica-set discovery never leads it to a host nobody checked;
reads then work on any member. Without TLS, and with sslmode `require`/`verify-ca`, it connects
to the checked IP. With `verify-full` (and `mongodb+srv`, which implies TLS) the certificate must
name the host, and pymongo has no way to verify a name other than the one it connects to: it
connects by the checked name, which the system resolver answers again (a DNS answer that changes
in between is the one residual gap; see the report).

`execute` runs `aggregate(pipeline + [{"$limit": limit + 1}], maxTimeMS=…)` with a pipeline the
guard (`check_pipeline`) produced; this module adds the limit and the time bound only. It checks
the pipeline with the guard again before connecting (collections unchecked), so a caller that
skipped the guard still cannot send `$out`, `$merge`, `$where`, `$function` or `$accumulator`.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)

from .base import Allow, ColumnInfo, MongoQuery, Probe, QueryResult, TableInfo, allowed_table, jsonable
from .egress import check_url_hosts
from .errors import DatabaseQueryFailed, DatabaseQueryTimeout, DatabaseUnreachable, InvalidConnectionUrl
from .spec import ConnectionSpec, parse_url, scrub, with_url_tls

logger = logging.getLogger(__name__)
READ_ROLES = frozenset({"read", "readAnyDatabase"})
_AUTH_FAILURES = (18, 13)  # AuthenticationFailed, Unauthorized
_INFER_SAMPLE = 20


@asynccontextmanager
async def _client(spec: ConnectionSpec, allow: Allow):  # type: ignore[no-untyped-def]
    parsed = parse_url("mongodb", spec.url)
    params = with_url_tls(spec.params, parsed)
    targets = await check_url_hosts(parsed, allow, timeout=params.connect_timeout)
    tls_mode = params.sslmode or ("verify-full" if parsed.srv else "disable")
    target = targets[0]
    options: dict[str, Any] = {
        "directConnection": True,
        "appname": "knowrithm",
        "connectTimeoutMS": params.connect_timeout * 1000,
        "serverSelectionTimeoutMS": params.connect_timeout * 1000,
        "tls": tls_mode != "disable",
    }
    if tls_mode == "require":
        options["tlsInsecure"] = True
    elif tls_mode == "verify-ca":
        options["tlsAllowInvalidHostnames"] = True
    if params.ssl_ca and tls_mode in ("verify-ca", "verify-full"):
        options["tlsCAFile"] = _ca_file(params.ssl_ca)
    if parsed.user:
        options.update(
            username=parsed.user,
            password=parsed.password or "",
            authSource=parsed.auth_source or parsed.database or "admin",
        )
    host = target.host if tls_mode == "verify-full" else target.ip
    where = f"Could not connect to {target.host}:{target.port}"
    try:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(host=host, port=target.port, **options)
    except PyMongoError as exc:  # options the driver refuses (e.g. an unknown authSource form)
        raise InvalidConnectionUrl(scrub(str(exc), parsed.password)) from None
    try:
        yield client, parsed
    except ExecutionTimeout as exc:
        raise DatabaseQueryTimeout("The database did not answer within its time limit") from exc
    except OperationFailure as exc:
        if exc.code not in _AUTH_FAILURES:  # the server refused a command of ours (not the login)
            raise DatabaseQueryFailed(scrub(_errmsg(exc), parsed.password)) from None
        raise DatabaseUnreachable(f"{where}: {scrub(_errmsg(exc), parsed.password)}") from None
    except PyMongoError as exc:  # no answer, TLS, an incompatible server, a malformed reply
        reason = scrub(str(exc).split(", full error")[0], parsed.password)
        raise DatabaseUnreachable(f"{where}: {reason}") from None
    except Exception as exc:
        if not _raised_by_driver(exc):
            raise
        # pymongo assumes a MongoDB server: a reply without the fields it expects (e.g. a login
        # answered without SCRAM's `payload`) surfaces as a KeyError, TypeError, … from inside it.
        logger.warning("MongoDB driver failed on %s:%s: %s", target.host, target.port, type(exc).__name__)
        raise DatabaseUnreachable(
            f"{where}: the server's answer could not be understood ({type(exc).__name__} in the "
            "MongoDB driver); is it a MongoDB server, and does it accept this user's login?"
        ) from None
    finally:
        await client.close()


def _errmsg(exc: OperationFailure) -> str:
    message = exc.details.get("errmsg") if exc.details else None
    return str(message or exc).split(", full error")[0]


def _raised_by_driver(exc: BaseException) -> bool:
    """Whether `exc` was raised inside pymongo or bson (its innermost frame), not by our own code."""
    tb = exc.__traceback__
    module = ""
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        tb = tb.tb_next
    return module.split(".")[0] in ("pymongo", "bson")


def _ca_file(pem: str) -> str:
    import hashlib
    import tempfile
    from pathlib import Path

    path = Path(tempfile.gettempdir()) / f"knowrithm-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        path.write_text(pem)
    return str(path)


class MongoEngine:
    name = "mongodb"

    async def probe(self, spec: ConnectionSpec, allow: Allow) -> Probe:
        """Connect, read the version, and warn when the user has roles other than read."""
        started = time.perf_counter()
        try:
            async with _client(spec, allow) as (client, _):
                info = await client.admin.command("buildInfo")
                latency = (time.perf_counter() - started) * 1000
                status = await client.admin.command("connectionStatus")
        except DatabaseUnreachable as exc:
            return Probe(reachable=False, error=exc.message)
        roles = status.get("authInfo", {}).get("authenticatedUserRoles", [])
        writable = sorted(
            {f"{r.get('role')}@{r.get('db')}" for r in roles if r.get("role") not in READ_ROLES}
        )
        warnings = (
            [f"The user has roles beyond read ({', '.join(writable)}); use a user with the read role only"]
            if writable
            else []
        )
        return Probe(
            reachable=True,
            server_version=str(info.get("version")),
            latency_ms=round(latency, 1),
            warnings=warnings,
        )

    async def reflect(self, spec: ConnectionSpec, allow: Allow) -> list[TableInfo]:
        """Collections with fields inferred from a few documents, estimated counts and sizes."""
        result = []
        async with _client(spec, allow) as (client, parsed):
            db = client[parsed.database or "test"]
            for name in sorted(await db.list_collection_names()):
                if name.startswith("system.") or not allowed_table(spec.params, name):
                    continue
                cursor = await db[name].aggregate([{"$limit": _INFER_SAMPLE}], maxTimeMS=10_000)
                docs = await cursor.to_list(_INFER_SAMPLE)
                count = await db[name].estimated_document_count(maxTimeMS=10_000)
                size = await _size(db, name)
                result.append(
                    TableInfo(
                        name=name,
                        schema=parsed.database,
                        columns=_infer(docs),
                        primary_key=["_id"],
                        row_estimate=count,
                        kind="collection",
                        size_bytes=size,
                    )
                )
        return result

    async def sample(
        self, spec: ConnectionSpec, allow: Allow, table: str, n: int, *, schema: str | None = None
    ) -> list[dict[str, Any]]:
        """The first `n` documents of collection `table`."""
        result = await self.execute(spec, allow, MongoQuery(table, []), limit=n, timeout_s=30)
        return [
            {k: v for k, v in zip(result.columns, row, strict=True) if v is not None} for row in result.rows
        ]

    async def execute(
        self, spec: ConnectionSpec, allow: Allow, query: MongoQuery, *, limit: int, timeout_s: float
    ) -> QueryResult:
        """Run a guarded aggregate pipeline, at most `limit` documents, cut at `timeout_s`."""
        from knowrithm_ingestion.databases.pipeline_guard import PipelineRefused, check_pipeline

        try:
            check_pipeline(query.collection, query.pipeline, collections=None, limit=1, max_time_ms=1)
        except PipelineRefused as exc:
            raise DatabaseQueryFailed(f"Not run on MongoDB: {exc.reason}") from exc
        started = time.perf_counter()
        pipeline = [*query.pipeline, {"$limit": limit + 1}]
        async with _client(spec, allow) as (client, parsed):
            collection = client[parsed.database or "test"][query.collection]
            try:
                cursor = await collection.aggregate(pipeline, maxTimeMS=max(int(timeout_s * 1000), 1))
                docs = await cursor.to_list(limit + 1)
            except ExecutionTimeout as exc:
                raise DatabaseQueryTimeout(f"The query did not finish within {timeout_s:g} seconds") from exc
            except OperationFailure as exc:
                if exc.code in _AUTH_FAILURES:
                    raise
                raise DatabaseQueryFailed(
                    scrub(str(exc.details.get("errmsg") if exc.details else exc), parsed.password)
                ) from exc
            except PyMongoError as exc:
                if isinstance(exc, ConnectionFailure | ConfigurationError):
                    raise
                raise DatabaseQueryFailed(scrub(str(exc), parsed.password)) from exc
        columns: list[str] = list(dict.fromkeys(key for doc in docs[:limit] for key in doc))
        rows = [[jsonable(doc.get(c)) for c in columns] for doc in docs[:limit]]
        return QueryResult(columns, rows, len(docs) > limit, round((time.perf_counter() - started) * 1000, 1))


async def _size(db: Any, name: str) -> int | None:
    """Bytes of a collection and its indexes on disk (`collStats` totalSize); None when the server
    does not tell (a view, a server without the command, a user without the right)."""
    try:
        stats = await db.command("collStats", name, maxTimeMS=10_000)
    except OperationFailure:
        return None
    total = stats.get("totalSize")
    if total is None and stats.get("storageSize") is not None:  # servers before 4.4
        total = stats.get("storageSize", 0) + stats.get("totalIndexSize", 0)
    return int(total) if isinstance(total, int | float) else None


def _infer(docs: list[dict[str, Any]]) -> list[ColumnInfo]:
    types: dict[str, set[str]] = {}
    seen: dict[str, int] = {}
    for doc in docs:
        for key, value in doc.items():
            types.setdefault(key, set()).add("null" if value is None else type(value).__name__)
            seen[key] = seen.get(key, 0) + 1
    return [
        ColumnInfo(
            name=k,
            type="|".join(sorted(t)),
            nullable="null" in t or seen[k] < len(docs),
            primary_key=k == "_id",
        )
        for k, t in types.items()
    ]


mongodb = MongoEngine()
