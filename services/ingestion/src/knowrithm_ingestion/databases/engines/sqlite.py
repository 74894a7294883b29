"""SQLite files a company uploaded (the service resolves the blob to a local path first).

The file is opened read-only and immutable (`file:…?mode=ro&immutable=1`: no journal, WAL or
lock file is created next to it), with `trusted_schema=OFF` (functions in the file's views and
triggers must be innocuous) and an authorizer: `execute` may only SELECT, READ, use recursive
CTEs and call functions on an allow-list; everything else (ATTACH, which creates files even in
read-only mode, PRAGMA, writes, transactions) is denied when the statement is prepared. A
progress handler interrupts a statement at its deadline. Python's sqlite3 runs one statement
per `execute`, so stacked statements are an error. SQLite has no server: there is no egress
check and `probe` reports the library's version.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .base import Allow, ColumnInfo, ForeignKey, Probe, QueryResult, TableInfo, allowed_table, jsonable
from .errors import DatabaseQueryFailed, DatabaseQueryTimeout, DatabaseUnreachable
from .spec import ConnectionSpec, parse_url

SAFE_FUNCTIONS = frozenset(
    {
        "abs",
        "avg",
        "count",
        "max",
        "min",
        "sum",
        "total",
        "group_concat",
        "string_agg",
        "length",
        "octet_length",
        "lower",
        "upper",
        "substr",
        "substring",
        "trim",
        "ltrim",
        "rtrim",
        "replace",
        "instr",
        "coalesce",
        "ifnull",
        "nullif",
        "iif",
        "if",
        "round",
        "typeof",
        "date",
        "time",
        "datetime",
        "julianday",
        "strftime",
        "unixepoch",
        "timediff",
        "printf",
        "format",
        "like",
        "glob",
        "hex",
        "unhex",
        "quote",
        "char",
        "unicode",
        "concat",
        "concat_ws",
        "sign",
        "ceil",
        "ceiling",
        "floor",
        "sqrt",
        "pow",
        "power",
        "mod",
        "exp",
        "ln",
        "log",
        "log10",
        "log2",
        "pi",
        "json",
        "json_extract",
        "json_array",
        "json_object",
        "json_array_length",
        "json_type",
        "json_valid",
        "json_quote",
        "json_group_array",
        "json_group_object",
        "json_each",
        "json_tree",
        "row_number",
        "rank",
        "dense_rank",
        "ntile",
        "lag",
        "lead",
        "first_value",
        "last_value",
        "nth_value",
        "percent_rank",
        "cume_dist",
        "likely",
        "unlikely",
        "likelihood",
    }
)
_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}


def _authorizer(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
) -> int:
    if action in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in SAFE_FUNCTIONS:
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _reflect_authorizer(action: int, arg1: str | None, *_: Any) -> int:
    """Our own reflection queries: reads and the schema pragmas, never ATTACH or a write."""
    if action in _ALLOWED_ACTIONS or action == sqlite3.SQLITE_FUNCTION:
        return sqlite3.SQLITE_OK
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in {"table_info", "foreign_key_list"}:
        return sqlite3.SQLITE_OK
    # A table-valued pragma's first use declares its virtual table, which SQLite authorizes as an
    # update of sqlite_master; the file is immutable and read-only, so nothing can be written.
    if action == sqlite3.SQLITE_UPDATE and arg1 == "sqlite_master":
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def _open(spec: ConnectionSpec) -> sqlite3.Connection:
    path = Path(parse_url("sqlite", spec.url).database or "")
    if not path.is_file():
        raise DatabaseUnreachable("The SQLite file of this connection is missing; upload it again")
    conn = sqlite3.connect(
        f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1",
        uri=True,
        timeout=spec.params.connect_timeout,
        check_same_thread=False,
    )
    try:
        conn.execute("PRAGMA trusted_schema = OFF")
        conn.execute("SELECT count(*) FROM sqlite_schema").fetchone()  # not a database: fail here
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise DatabaseUnreachable("The file of this connection is not a SQLite database") from exc
    return conn


def _run(spec: ConnectionSpec, query: str, limit: int, timeout_s: float) -> QueryResult:
    started = time.perf_counter()
    deadline = time.monotonic() + timeout_s
    conn = _open(spec)
    try:
        conn.set_authorizer(_authorizer)
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 1000)
        try:
            cursor = conn.execute(query)
            fetched = cursor.fetchmany(limit + 1)
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                raise DatabaseQueryTimeout(f"The query did not finish within {timeout_s:g} seconds") from exc
            raise DatabaseQueryFailed(str(exc)) from exc
        except (sqlite3.DatabaseError, sqlite3.ProgrammingError, sqlite3.Warning) as exc:
            raise DatabaseQueryFailed(str(exc)) from exc
        columns = [d[0] for d in cursor.description or []]
    finally:
        conn.close()
    rows = [[jsonable(v) for v in row] for row in fetched[:limit]]
    return QueryResult(columns, rows, len(fetched) > limit, round((time.perf_counter() - started) * 1000, 1))


def _reflect(spec: ConnectionSpec) -> list[TableInfo]:
    conn = _open(spec)
    try:
        conn.set_authorizer(_reflect_authorizer)
        deadline = time.monotonic() + 60
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        objects = conn.execute(
            "SELECT name, type FROM sqlite_schema WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
        sizes = _sizes(conn)
        return [
            _table(conn, name, kind, sizes) for name, kind in objects if allowed_table(spec.params, name)
        ]
    finally:
        conn.close()


def _sizes(conn: sqlite3.Connection) -> dict[str, int] | None:
    """Bytes of each table's pages with its indexes', from `dbstat` (None: not compiled in)."""
    try:
        rows = conn.execute(
            "SELECT s.tbl_name, sum(d.pgsize) FROM dbstat d JOIN sqlite_schema s ON s.name = d.name "
            "GROUP BY s.tbl_name"
        ).fetchall()
    except sqlite3.Error:  # no such table: dbstat (a build without SQLITE_ENABLE_DBSTAT_VTAB)
        return None
    return {name: int(size) for name, size in rows}


def _table(conn: sqlite3.Connection, name: str, kind: str, sizes: dict[str, int] | None) -> TableInfo:
    info = conn.execute(
        'SELECT name, type, "notnull", pk FROM pragma_table_info(?) ORDER BY cid', (name,)
    ).fetchall()
    primary = [c[0] for c in sorted((c for c in info if c[3]), key=lambda c: c[3])]
    columns = [
        ColumnInfo(
            name=c[0], type=c[1] or "", nullable=not c[2] and c[0] not in primary, primary_key=c[0] in primary
        )
        for c in info
    ]
    groups: dict[int, list[tuple[Any, ...]]] = {}
    for fk in conn.execute(
        'SELECT id, seq, "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq', (name,)
    ):
        groups.setdefault(fk[0], []).append(fk)
    foreign = []
    for rows in groups.values():
        ref_table = rows[0][2]
        ref_cols = [r[4] for r in rows]
        if any(c is None for c in ref_cols):  # REFERENCES t without columns: t's primary key
            ref_cols = [
                c[0]
                for c in conn.execute(
                    "SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (ref_table,)
                )
            ]
        foreign.append(ForeignKey(columns=[r[3] for r in rows], ref_table=ref_table, ref_columns=ref_cols))
    estimate = None
    if kind == "table":
        try:
            estimate = conn.execute(
                f"SELECT count(*) FROM {_quote(name)}"  # noqa: S608 - a quoted identifier
            ).fetchone()[0]
        except sqlite3.OperationalError:
            estimate = None  # interrupted at the deadline
    return TableInfo(
        name=name,
        schema=None,
        columns=columns,
        primary_key=primary,
        foreign_keys=foreign,
        row_estimate=estimate,
        kind=kind,
        size_bytes=sizes.get(name) if sizes is not None and kind == "table" else None,
    )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqliteEngine:
    name = "sqlite"

    async def probe(self, spec: ConnectionSpec, allow: Allow) -> Probe:
        """Open the file read-only and report the SQLite library's version (never warns: read-only)."""
        started = time.perf_counter()
        try:
            await asyncio.to_thread(lambda: _open(spec).close())
        except DatabaseUnreachable as exc:
            return Probe(reachable=False, error=exc.message)
        return Probe(
            reachable=True,
            server_version=sqlite3.sqlite_version,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
        )

    async def reflect(self, spec: ConnectionSpec, allow: Allow) -> list[TableInfo]:
        """Tables and views with columns, keys, exact row counts and sizes (`dbstat`, when built in)."""
        return await asyncio.to_thread(_reflect, spec)

    async def sample(
        self, spec: ConnectionSpec, allow: Allow, table: str, n: int, *, schema: str | None = None
    ) -> list[dict[str, Any]]:
        """The first `n` rows of `table`."""
        quoted = _quote(table)
        result = await asyncio.to_thread(_run, spec, f"SELECT * FROM {quoted} LIMIT {int(n)}", n, 30)  # noqa: S608
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    async def execute(
        self, spec: ConnectionSpec, allow: Allow, query: str, *, limit: int, timeout_s: float
    ) -> QueryResult:
        """Run guarded SQL on the read-only file, at most `limit` rows, cut at `timeout_s`."""
        return await asyncio.to_thread(_run, spec, query, limit, timeout_s)


sqlite = SqliteEngine()
