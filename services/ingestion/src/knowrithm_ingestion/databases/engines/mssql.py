"""SQL Server (and Azure SQL) through pymssql, whose wheels bundle FreeTDS: no ODBC driver needed.

pymssql is synchronous: each call (connect, run its statements, close) runs in a worker thread
(`asyncio.to_thread`) under an overall deadline, so a stuck server never holds the event loop.
The connection goes to the checked address (`Target.ip`), with the login timeout from the
connection's `connect_timeout`.

SQL Server has no read-only transaction, so `execute` keeps three locks of its own besides the
account's permissions:
- it re-parses what it is given with the guard (`check_sql` in the `mssql` dialect) and refuses
  anything but one read-only query before it is sent (a batch such as `SELECT 1; COMMIT; DROP
  TABLE t` would otherwise run whole: T-SQL batches take several statements);
- the query runs inside `BEGIN TRANSACTION … ROLLBACK` (always rolled back, `XACT_ABORT` on),
  at `READ COMMITTED`, with `SET LOCK_TIMEOUT` and `SET ROWCOUNT limit + 1`;
- the driver's query timeout (whole seconds, at least 1) cancels a slow statement; the thread
  is also abandoned after `timeout_s + 5` seconds.

TLS: sslmode `disable` turns encryption off and `require` demands it. FreeTDS cannot be given a
CA or a host name to verify per connection, so `verify-ca`/`verify-full` are refused (422) rather
than silently not verified. Without a mode the driver's default applies (encrypt when the server
asks).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pymssql

from .base import Allow, ColumnInfo, ForeignKey, Probe, QueryResult, TableInfo, allowed_table, jsonable
from .egress import Target, check_url_hosts
from .errors import DatabaseQueryFailed, DatabaseQueryTimeout, DatabaseRefused, DatabaseUnreachable
from .spec import ConnectionSpec, ParsedUrl, parse_url, scrub

T = TypeVar("T")

_TIMEOUT_ERRORS = {20003, 1222}  # FreeTDS query timeout; SQL Server lock request timeout
_ENCRYPTION = {None: None, "disable": "off", "require": "require"}
_LOCK_TIMEOUT_MS = 2000
_BANNERS = ("DB-Lib error message", "General SQL Server error")  # FreeTDS's words around the server's

_VERSION = "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)), @@VERSION"
_ROLES = (
    "SELECT IS_SRVROLEMEMBER('sysadmin'), IS_MEMBER('db_owner'), IS_MEMBER('db_datawriter'), "
    "IS_MEMBER('db_ddladmin')"
)
_DATABASE_WRITE_PERMISSIONS = (
    "SELECT permission_name FROM fn_my_permissions(NULL, 'DATABASE') "
    "WHERE permission_name IN ('INSERT', 'UPDATE', 'DELETE', 'ALTER', 'CONTROL', 'CREATE TABLE') "
    "ORDER BY permission_name"
)
_WRITABLE_TABLES = """
SELECT TOP 6 s.name + '.' + t.name FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id
WHERE t.is_ms_shipped = 0 AND (
  HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(t.name), 'OBJECT', 'INSERT') = 1
  OR HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(t.name), 'OBJECT', 'UPDATE') = 1
  OR HAS_PERMS_BY_NAME(QUOTENAME(s.name) + '.' + QUOTENAME(t.name), 'OBJECT', 'DELETE') = 1)
ORDER BY 1
"""
_DESCRIPTION = (
    "CAST((SELECT TOP 1 ep.value FROM sys.extended_properties ep WHERE ep.class = 1 "
    "AND ep.name = 'MS_Description' AND ep.major_id = {object_id} AND ep.minor_id = {minor_id}) "
    "AS nvarchar(4000))"
)
_OBJECT_ID = "OBJECT_ID(QUOTENAME({alias}.TABLE_SCHEMA) + '.' + QUOTENAME({alias}.TABLE_NAME))"
_TABLES = f"""
SELECT t.TABLE_SCHEMA, t.TABLE_NAME, t.TABLE_TYPE,
  (SELECT SUM(p.rows) FROM sys.partitions p
   WHERE p.object_id = {_OBJECT_ID.format(alias="t")} AND p.index_id IN (0, 1)),
  {_DESCRIPTION.format(object_id=_OBJECT_ID.format(alias="t"), minor_id="0")},
  (SELECT CAST(SUM(a.used_pages) AS bigint) * 8192 FROM sys.partitions p
   JOIN sys.allocation_units a ON a.container_id = p.partition_id
   WHERE p.object_id = {_OBJECT_ID.format(alias="t")})
FROM INFORMATION_SCHEMA.TABLES t
WHERE t.TABLE_SCHEMA NOT IN ('sys', 'INFORMATION_SCHEMA')
ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME
"""  # noqa: S608 - constant text
_COLUMN_ID = f"COLUMNPROPERTY({_OBJECT_ID.format(alias='c')}, c.COLUMN_NAME, 'ColumnId')"
_COLUMN_DESCRIPTION = _DESCRIPTION.format(object_id=_OBJECT_ID.format(alias="c"), minor_id=_COLUMN_ID)
_COLUMNS = f"""
SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.CHARACTER_MAXIMUM_LENGTH,
  c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.IS_NULLABLE, {_COLUMN_DESCRIPTION}
FROM INFORMATION_SCHEMA.COLUMNS c
WHERE c.TABLE_SCHEMA NOT IN ('sys', 'INFORMATION_SCHEMA')
ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION
"""  # noqa: S608 - constant text
_PRIMARY_KEYS = """
SELECT k.TABLE_SCHEMA, k.TABLE_NAME, k.COLUMN_NAME
FROM INFORMATION_SCHEMA.TABLE_CONSTRAINTS c
JOIN INFORMATION_SCHEMA.KEY_COLUMN_USAGE k ON k.CONSTRAINT_SCHEMA = c.CONSTRAINT_SCHEMA
  AND k.CONSTRAINT_NAME = c.CONSTRAINT_NAME
  AND k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME
WHERE c.CONSTRAINT_TYPE = 'PRIMARY KEY'
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.ORDINAL_POSITION
"""
_FOREIGN_KEYS = """
SELECT fk.object_id, OBJECT_SCHEMA_NAME(fk.parent_object_id), OBJECT_NAME(fk.parent_object_id), pc.name,
  OBJECT_SCHEMA_NAME(fk.referenced_object_id), OBJECT_NAME(fk.referenced_object_id), rc.name
FROM sys.foreign_keys fk
JOIN sys.foreign_key_columns fkc ON fkc.constraint_object_id = fk.object_id
JOIN sys.columns pc ON pc.object_id = fkc.parent_object_id AND pc.column_id = fkc.parent_column_id
JOIN sys.columns rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id
ORDER BY fk.object_id, fkc.constraint_column_id
"""
_SIZED_TYPES = {"char", "varchar", "nchar", "nvarchar", "binary", "varbinary"}
_SCALED_TYPES = {"decimal", "numeric"}


class MssqlEngine:
    name = "mssql"

    async def probe(self, spec: ConnectionSpec, allow: Allow) -> Probe:
        """Connect, read the version, and warn when the account can write (roles or permissions)."""
        started = time.perf_counter()
        try:
            version, warnings, connected = await _in_thread(spec, allow, _probe, budget=30)
        except DatabaseUnreachable as exc:
            return Probe(reachable=False, error=exc.message)
        return Probe(
            reachable=True,
            server_version=version,
            latency_ms=round((connected - started) * 1000, 1),
            warnings=warnings,
        )

    async def reflect(self, spec: ConnectionSpec, allow: Allow) -> list[TableInfo]:
        """Tables and views with columns, keys, MS_Description comments and row estimates."""
        tables: list[TableInfo] = await _in_thread(
            spec, allow, lambda conn, _: _reflect(conn, spec), budget=120
        )
        return tables

    async def sample(
        self, spec: ConnectionSpec, allow: Allow, table: str, n: int, *, schema: str | None = None
    ) -> list[dict[str, Any]]:
        """The first `n` rows of `schema.table`."""
        name = f"{_quote(schema)}.{_quote(table)}" if schema else _quote(table)
        query = f"SELECT TOP ({int(n)}) * FROM {name}"  # noqa: S608 - quoted identifiers
        result = await self.execute(spec, allow, query, limit=n, timeout_s=30)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    async def execute(
        self, spec: ConnectionSpec, allow: Allow, query: str, *, limit: int, timeout_s: float
    ) -> QueryResult:
        """Run guarded SQL read-only (see the module's docstring), at most `limit` rows, cut at
        `timeout_s`."""
        _check_single_read(query)

        def run(conn: Any, password: str | None) -> QueryResult:
            return _run(conn, password, query, limit=limit, timeout_s=timeout_s)

        result: QueryResult = await _in_thread(
            spec, allow, run, budget=timeout_s + spec.params.connect_timeout + 5, query_timeout=timeout_s
        )
        return result


async def _in_thread(
    spec: ConnectionSpec,
    allow: Allow,
    work: Callable[[Any, str | None], T],
    *,
    budget: float,
    query_timeout: float = 60,
) -> T:
    """Check the host, then connect and do `work(conn, password)` in a thread, within `budget` s."""
    parsed = parse_url("mssql", spec.url)
    if spec.params.sslmode not in _ENCRYPTION:
        raise DatabaseRefused(
            "SQL Server connections take sslmode disable or require: the driver cannot verify the "
            "server's certificate against a CA or host name (verify-ca / verify-full)"
        )
    (target,) = await check_url_hosts(parsed, allow, timeout=spec.params.connect_timeout)

    def call() -> T:
        conn = _connect(spec, parsed, target, query_timeout)
        try:
            return work(conn, parsed.password)
        finally:
            try:
                conn.close()
            except pymssql.Error:  # already gone: the server rolls back what the session left
                pass

    try:
        return await asyncio.wait_for(asyncio.to_thread(call), budget)
    except TimeoutError as exc:
        raise DatabaseQueryTimeout(f"The database did not answer within {budget:g} seconds") from exc


def _connect(spec: ConnectionSpec, parsed: ParsedUrl, target: Target, query_timeout: float) -> Any:
    try:
        return pymssql.connect(
            server=target.ip,
            port=str(target.port),
            user=parsed.user or "",
            password=parsed.password or "",
            database=parsed.database or "",
            login_timeout=spec.params.connect_timeout,
            timeout=max(math.ceil(query_timeout), 1),
            appname="knowrithm",
            autocommit=True,
            encryption=_ENCRYPTION[spec.params.sslmode],
        )
    except (pymssql.Error, OSError) as exc:
        reason = scrub(_message(exc), parsed.password) or "no answer"
        raise DatabaseUnreachable(f"Could not connect to {target.host}:{target.port}: {reason}") from None


def _rows(conn: Any, query: str) -> list[tuple[Any, ...]]:
    cursor = conn.cursor()
    cursor.execute(query)
    return list(cursor.fetchall())


def _probe(conn: Any, password: str | None) -> tuple[str, list[str], float]:
    connected = time.perf_counter()
    product, banner = _rows(conn, _VERSION)[0]
    version = str(banner or product).splitlines()[0].strip()
    return version, _write_warnings(conn), connected


def _write_warnings(conn: Any) -> list[str]:
    warnings = []
    try:
        sysadmin, owner, writer, ddl = _rows(conn, _ROLES)[0]
        roles = [
            name
            for name, member in (
                ("sysadmin", sysadmin),
                ("db_owner", owner),
                ("db_datawriter", writer),
                ("db_ddladmin", ddl),
            )
            if member == 1
        ]
        if roles:
            warnings.append(
                f"The account is a member of {', '.join(roles)}: it can change data; use a login "
                "with db_datareader (or SELECT) only"
            )
        granted = [str(r[0]) for r in _rows(conn, _DATABASE_WRITE_PERMISSIONS)]
        writable = [str(r[0]) for r in _rows(conn, _WRITABLE_TABLES)]
    except pymssql.Error:  # a server without these functions: say nothing rather than fail the test
        return warnings
    if granted and not roles:
        warnings.append(
            f"The account has the database permissions {', '.join(granted)}; use a login with SELECT only"
        )
    if writable and not roles:
        shown = ", ".join(writable[:5]) + (" …" if len(writable) > 5 else "")
        warnings.append(
            f"The account can write to tables (INSERT/UPDATE/DELETE on {shown}); use a login with SELECT only"
        )
    return warnings


def _bound(conn: Any, *, limit: int) -> None:
    _execute(
        conn,
        "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; SET IMPLICIT_TRANSACTIONS OFF; "
        f"SET XACT_ABORT ON; SET LOCK_TIMEOUT {_LOCK_TIMEOUT_MS}; SET ROWCOUNT {int(limit)}",
    )


def _execute(conn: Any, statement: str) -> None:
    conn.cursor().execute(statement)


def _rollback(conn: Any) -> None:
    try:
        _execute(conn, "IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
    except pymssql.Error:  # the connection died (e.g. after a timeout): the server rolls back
        pass


def _run(conn: Any, password: str | None, query: str, *, limit: int, timeout_s: float) -> QueryResult:
    started = time.perf_counter()
    try:
        _bound(conn, limit=limit + 1)
        _execute(conn, "BEGIN TRANSACTION")
        try:
            cursor = conn.cursor()
            cursor.execute(query)  # no parameters: the text is not %-formatted
            fetched = list(cursor.fetchmany(limit + 1)) if cursor.description else []
            columns = [str(d[0]) for d in cursor.description or []]
        finally:
            _rollback(conn)
    except pymssql.Error as exc:
        code, _ = _error(exc)
        if code in _TIMEOUT_ERRORS or "timed out" in _message(exc).lower():
            raise DatabaseQueryTimeout(f"The query did not finish within {timeout_s:g} seconds") from exc
        raise DatabaseQueryFailed(scrub(_message(exc), password)) from exc
    rows = [[jsonable(v) for v in row] for row in fetched[:limit]]
    return QueryResult(columns, rows, len(fetched) > limit, round((time.perf_counter() - started) * 1000, 1))


def _check_single_read(query: str) -> None:
    """Refuse anything but one read-only query before it reaches the server (see the docstring)."""
    from knowrithm_ingestion.databases.guard import SqlRefused, check_sql

    try:
        check_sql(query, dialect="mssql", tables=None, limit=1_000_000)
    except SqlRefused as exc:
        raise DatabaseQueryFailed(f"Not run on SQL Server: {exc.reason}") from exc


def _type(data_type: str, length: Any, precision: Any, scale: Any) -> str:
    kind = str(data_type).lower()
    if kind in _SIZED_TYPES and length is not None:
        return f"{kind}({'max' if int(length) == -1 else int(length)})"
    if kind in _SCALED_TYPES and precision is not None:
        return f"{kind}({int(precision)},{int(scale or 0)})"
    return kind


def _reflect(conn: Any, spec: ConnectionSpec) -> list[TableInfo]:
    _bound(conn, limit=0)  # ROWCOUNT 0: every row
    wanted = set(spec.params.schemas) if spec.params.schemas else None
    tables = [
        t
        for t in _rows(conn, _TABLES)
        if (wanted is None or t[0] in wanted) and allowed_table(spec.params, t[1], t[0])
    ]
    columns: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in _rows(conn, _COLUMNS):
        columns.setdefault((row[0], row[1]), []).append(row)
    primary: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in _rows(conn, _PRIMARY_KEYS):
        primary.setdefault((schema, table), []).append(column)
    foreign: dict[tuple[str, str], dict[int, list[tuple[Any, ...]]]] = {}
    for row in _rows(conn, _FOREIGN_KEYS):
        foreign.setdefault((row[1], row[2]), {}).setdefault(int(row[0]), []).append(row)
    result = []
    for schema, name, kind, estimate, comment, size in tables:
        keys = primary.get((schema, name), [])
        is_view = str(kind).upper() == "VIEW"
        result.append(
            TableInfo(
                name=name,
                schema=schema,
                columns=[
                    ColumnInfo(
                        name=c[2],
                        type=_type(c[3], c[4], c[5], c[6]),
                        nullable=c[7] == "YES",
                        primary_key=c[2] in keys,
                        comment=c[8] or None,
                    )
                    for c in columns.get((schema, name), [])
                ],
                primary_key=keys,
                foreign_keys=[
                    ForeignKey(
                        columns=[r[3] for r in rows],
                        ref_table=rows[0][5],
                        ref_columns=[r[6] for r in rows],
                        ref_schema=rows[0][4],
                    )
                    for rows in foreign.get((schema, name), {}).values()
                ],
                row_estimate=None if is_view or estimate is None else int(estimate),
                comment=comment or None,
                kind="view" if is_view else "table",
                size_bytes=None if is_view or size is None else int(size),
            )
        )
    return result


def _quote(name: str) -> str:
    return "[" + name.replace("]", "]]") + "]"


def _error(exc: BaseException) -> tuple[int | None, str]:
    """pymssql's (number, message) of an error: its args hold `((number, b"message"),)`."""
    arg = exc.args[0] if exc.args else None
    if isinstance(arg, tuple) and len(arg) >= 2:
        raw = arg[1]
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        return (arg[0] if isinstance(arg[0], int) else None), text
    return None, str(exc)


def _message(exc: BaseException) -> str:
    """The server's or FreeTDS's words, without the DB-Lib banners."""
    _, text = _error(exc)
    parts = []
    for line in text.replace("DB-Lib error message", "\nDB-Lib error message").splitlines():
        line = line.strip()
        if line and not line.startswith(_BANNERS) and line not in parts:
            parts.append(line)
    return "; ".join(parts[:2]) or type(exc).__name__


mssql = MssqlEngine()
