"""Company databases: analysing a 100-table schema, and the guard's + executor's overhead.

Starts its own embedded PostgreSQL and MariaDB (throwaway data dirs, random ports on
127.0.0.1, allow-listed for the egress guard as the tests do) and uses SQLite files.

1. Analyse: a 100-table schema (structure only: 100 tables of 8 columns, a primary key each,
   100 foreign keys, 3 rows per table) on each engine. One run is what the analysis job does
   to read a connection (`analysis.jobs._read`, called directly: probe, `reflect`, then per
   table `sample` 5 rows and count them); the storing of the result in our own database and
   the task's progress writes are not included. `reflect` alone is timed beside it. The engines
   run interleaved, round by round. Target: p50 <= 5 s.
2. Overhead of a simple SELECT (`SELECT name FROM artist WHERE artist_id = 1` on Chinook, loaded
   by `knowrithm_stack.chinook`) per engine, interleaved round by round in one run:
   - raw driver, a fresh connection each time (psycopg / aiomysql / sqlite3), as the engine does;
   - raw driver on a kept connection (for reference);
   - `check_sql` + `get_engine(...).execute(...)` (what `queries.service.run_query` does, without
     its audit row): limit 100, timeout 15 s;
   - the guard alone (`check_sql`).
   Added = p50/p95 of guarded minus p50/p95 of raw-fresh. Target: <= 20 ms added at p95.

Usage (from the repo root):
    python3 -m uv run --frozen python bench/databases.py [--analyze-runs 20] [--queries 500]
        [--profile analyze|query]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomysql
import psycopg
import pymysql

from knowrithm_ingestion.databases.analysis.jobs import Progress, _read
from knowrithm_ingestion.databases.engines import ConnectionSpec, get_engine
from knowrithm_ingestion.databases.guard import check_sql
from knowrithm_stack.chinook import CHINOOK_TABLES, load_mysql, load_postgres, load_sqlite
from knowrithm_stack.mariadb import MariaDBServer, mysql_connect_args
from knowrithm_stack.ports import free_port
from knowrithm_stack.servers import PostgresServer, create_database

ALLOW = ["127.0.0.1/32"]  # the embedded servers listen on 127.0.0.1
ENGINES = ("postgresql", "mysql", "sqlite")
TABLES, ROWS_PER_TABLE = 100, 3
QUERY = "SELECT name FROM artist WHERE artist_id = 1"
LIMIT, TIMEOUT_S = 100, 15.0


# --- the 100-table schema ------------------------------------------------------------------------


def schema_ddl(engine: str) -> list[str]:
    """100 tables of 8 columns with a primary key each and 100 foreign keys (a random tree of
    `parent_id` plus one `owner_id` on table 99), then 3 rows per table."""
    rng = random.Random(15)
    text = "VARCHAR(120)"
    stamp = {"postgresql": "TIMESTAMP", "mysql": "DATETIME", "sqlite": "TEXT"}[engine]
    statements, fks = [], 0
    for i in range(TABLES):
        parent = rng.randrange(i) if i else None
        columns = [
            f"t{i:03d}_id INTEGER NOT NULL PRIMARY KEY",
            f"name {text} NOT NULL",
            "code VARCHAR(20)",
            "amount NUMERIC(12,2)",
            f"created_at {stamp}",
            "note TEXT",
            "parent_id INTEGER" + (f" REFERENCES t{parent:03d} (t{parent:03d}_id)" if i else ""),
            f"owner_id INTEGER{' REFERENCES t000 (t000_id)' if i == TABLES - 1 else ''}",
        ]
        fks += (parent is not None) + (i == TABLES - 1)
        statements.append(f"CREATE TABLE t{i:03d} ({', '.join(columns)})")
    assert fks == 100
    for i in range(TABLES):
        values = ", ".join(
            f"({r}, 'row {r} of t{i:03d}', 'C{r}', {r * 10}.5, '2026-01-0{r} 10:00:00', 'a note', NULL, NULL)"
            for r in range(1, ROWS_PER_TABLE + 1)
        )
        statements.append(f"INSERT INTO t{i:03d} VALUES {values}")
    return statements


def load_schema_postgres(url: str) -> None:
    with psycopg.connect(url) as conn:
        for statement in schema_ddl("postgresql"):
            conn.execute(statement)  # type: ignore[arg-type] - built from constants above
        conn.execute("ANALYZE")


def load_schema_mysql(url: str) -> None:
    conn = pymysql.connect(**mysql_connect_args(url), autocommit=True)
    try:
        with conn.cursor() as cursor:
            for statement in schema_ddl("mysql"):
                cursor.execute(statement)
            cursor.execute("ANALYZE TABLE " + ", ".join(f"t{i:03d}" for i in range(TABLES)))
            cursor.fetchall()
    finally:
        conn.close()


def load_schema_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    try:
        with conn:
            for statement in schema_ddl("sqlite"):
                conn.execute(statement)
    finally:
        conn.close()


# --- measuring ----------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await call()
    return (time.perf_counter() - started) * 1000


async def bench_analyze(specs: dict[str, ConnectionSpec], runs: int) -> dict[str, dict[str, list[float]]]:
    """Per engine: ms of `reflect` alone and of the analysis job's whole read, interleaved."""
    times: dict[str, dict[str, list[float]]] = {e: {"reflect": [], "analyze": []} for e in specs}
    progress = Progress(None, None)  # type: ignore[arg-type] - no task: reports nothing
    for engine, spec in specs.items():  # warm-up, and check the shape
        tables = await _read(spec, ALLOW, progress)
        fks = sum(len(t.values["foreign_keys"]) for t in tables)
        assert (len(tables), fks) == (TABLES, 100), (engine, len(tables), fks)
        assert all(len(t.values["sample_rows"]) == ROWS_PER_TABLE for t in tables), engine
    for round_ in range(runs):
        order = list(specs) if round_ % 2 == 0 else list(reversed(specs))
        for engine in order:
            spec = specs[engine]
            times[engine]["reflect"].append(
                await timed(lambda s=spec: get_engine(s.engine).reflect(s, ALLOW))
            )
            times[engine]["analyze"].append(await timed(lambda s=spec: _read(s, ALLOW, progress)))
    return times


class Raw:
    """The raw driver for one engine: a fresh connection per query, and one kept connection."""

    def __init__(self, engine: str, url: str) -> None:
        self.engine, self.url = engine, url
        self.kept: Any = None

    async def open(self) -> None:
        self.kept = await self._connect()

    async def close(self) -> None:
        if self.engine == "postgresql":
            await self.kept.close()
        else:
            self.kept.close()

    async def _connect(self) -> Any:
        if self.engine == "postgresql":
            return await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        if self.engine == "mysql":
            args = mysql_connect_args(self.url)
            args["db"] = args.pop("database")
            return await aiomysql.connect(**args, autocommit=True)
        return sqlite3.connect(f"file:{self.url}?mode=ro", uri=True)

    async def _query(self, conn: Any) -> list[Any]:
        if self.engine == "postgresql":
            return await (await conn.execute(QUERY)).fetchall()  # type: ignore[no-any-return]
        if self.engine == "mysql":
            async with conn.cursor() as cursor:
                await cursor.execute(QUERY)
                return list(await cursor.fetchall())
        return conn.execute(QUERY).fetchall()  # type: ignore[no-any-return]

    async def fresh(self) -> list[Any]:
        conn = await self._connect()
        try:
            return await self._query(conn)
        finally:
            if self.engine == "postgresql":
                await conn.close()
            else:
                conn.close()

    async def on_kept(self) -> list[Any]:
        return await self._query(self.kept)


async def guarded(spec: ConnectionSpec) -> Any:
    checked = check_sql(QUERY, dialect=spec.engine, tables=CHINOOK_TABLES, limit=LIMIT)  # type: ignore[arg-type]
    return await get_engine(spec.engine).execute(spec, ALLOW, checked.sql, limit=LIMIT, timeout_s=TIMEOUT_S)


async def guard_only(spec: ConnectionSpec) -> Any:
    return check_sql(QUERY, dialect=spec.engine, tables=CHINOOK_TABLES, limit=LIMIT)  # type: ignore[arg-type]


async def bench_query(
    specs: dict[str, ConnectionSpec], raw_urls: dict[str, str], n: int
) -> dict[str, dict[str, list[float]]]:
    """Per engine and target: ms of the simple SELECT, the targets rotating every round."""
    times: dict[str, dict[str, list[float]]] = {}
    for engine, spec in specs.items():
        raw = Raw(engine, raw_urls[engine])
        await raw.open()
        targets: dict[str, Callable[[], Awaitable[Any]]] = {
            "raw, fresh connection": raw.fresh,
            "raw, kept connection": raw.on_kept,
            "check_sql + execute": lambda s=spec: guarded(s),
            "check_sql alone": lambda s=spec: guard_only(s),
        }
        expected = (await raw.fresh())[0][0]
        result = await guarded(spec)
        assert result.rows == [[expected]], (engine, result.rows, expected)
        for call in targets.values():  # warm-up
            for _ in range(5):
                await call()
        times[engine] = {name: [] for name in targets}
        names = list(targets)
        for round_ in range(n):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                times[engine][name].append(await timed(targets[name]))
        await raw.close()
    return times


def profile(label: str, coro: Awaitable[Any]) -> None:
    """cProfile one coroutine; print the top frames by cumulative and by own time."""
    profiler = cProfile.Profile()
    profiler.enable()
    asyncio.run(coro)  # type: ignore[arg-type]
    profiler.disable()
    print(f"\n--- profile: {label} ---")
    stats = pstats.Stats(profiler).strip_dirs()
    stats.sort_stats("cumulative").print_stats(25)
    stats.sort_stats("tottime").print_stats(15)


# --- setting up ----------------------------------------------------------------------------------


def start_servers(tmp: Path) -> tuple[PostgresServer, MariaDBServer]:
    postgres = PostgresServer(data_dir=tmp / "pg", port=free_port(), durable=False)
    mariadb = MariaDBServer(data_dir=tmp / "maria", port=free_port(), durable=False)
    postgres.start(wait=False)
    mariadb.start(wait=False)
    postgres.wait_ready(timeout=90)
    mariadb.wait_ready(timeout=90)
    return postgres, mariadb


def prepare(tmp: Path, postgres: PostgresServer, mariadb: MariaDBServer) -> dict[str, dict[str, str]]:
    """Load the schema and Chinook into each engine; the URLs per (database, engine)."""
    pg_schema = create_database(postgres.dsn("postgres"), "bench_schema", replace=True)
    pg_chinook = create_database(postgres.dsn("postgres"), "bench_chinook", replace=True)
    load_schema_postgres(pg_schema)
    load_postgres(pg_chinook)
    my_schema = mariadb.create_database("bench_schema")
    my_chinook = mariadb.create_database("bench_chinook")
    load_schema_mysql(my_schema)
    load_mysql(my_chinook)
    lite_schema, lite_chinook = tmp / "schema.sqlite", tmp / "chinook.sqlite"
    load_schema_sqlite(lite_schema)
    load_sqlite(lite_chinook)
    return {
        "schema": {"postgresql": pg_schema, "mysql": my_schema, "sqlite": str(lite_schema)},
        "chinook": {"postgresql": pg_chinook, "mysql": my_chinook, "sqlite": str(lite_chinook)},
    }


def print_table(title: str, times: dict[str, dict[str, list[float]]], unit: float = 1.0) -> None:
    print(f"\n{title}")
    print(f"{'engine':<12} {'target':<24} {'n':>4} {'p50 ms':>9} {'p95 ms':>9}")
    for engine, targets in times.items():
        for name, values in targets.items():
            print(
                f"{engine:<12} {name:<24} {len(values):>4} {statistics.median(values):>9.2f} "
                f"{percentile(values, 0.95):>9.2f}"
            )


def print_overhead(times: dict[str, dict[str, list[float]]]) -> None:
    print(f"\n{'engine':<12} {'added p50 ms':>13} {'added p95 ms':>13} {'ratio p50':>10} {'ratio p95':>10}")
    for engine, targets in times.items():
        raw, ours = targets["raw, fresh connection"], targets["check_sql + execute"]
        p50 = (statistics.median(raw), statistics.median(ours))
        p95 = (percentile(raw, 0.95), percentile(ours, 0.95))
        print(
            f"{engine:<12} {p50[1] - p50[0]:>13.2f} {p95[1] - p95[0]:>13.2f} "
            f"{p50[1] / p50[0]:>10.2f} {p95[1] / p95[0]:>10.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--analyze-runs", type=int, default=20, help="analyses per engine")
    parser.add_argument("--queries", type=int, default=500, help="rounds of the simple SELECT per engine")
    parser.add_argument("--profile", choices=["analyze", "query"], help="also cProfile one engine's part")
    parser.add_argument("--profile-engine", choices=ENGINES, default="postgresql")
    args = parser.parse_args()
    started = time.perf_counter()
    print(f"load average at start: {' '.join(f'{v:.2f}' for v in os.getloadavg())}, cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="bench-databases-") as name:
        tmp = Path(name)
        postgres, mariadb = start_servers(tmp)
        try:
            urls = prepare(tmp, postgres, mariadb)
            schema = {e: ConnectionSpec(engine=e, url=u) for e, u in urls["schema"].items()}  # type: ignore[arg-type]
            chinook = {e: ConnectionSpec(engine=e, url=u) for e, u in urls["chinook"].items()}  # type: ignore[arg-type]
            print(f"servers up and loaded in {time.perf_counter() - started:.1f} s")
            analysed = asyncio.run(bench_analyze(schema, args.analyze_runs))
            print_table(f"Analyse a {TABLES}-table schema ({ROWS_PER_TABLE} rows each, 100 FKs)", analysed)
            queried = asyncio.run(bench_query(chinook, urls["chinook"], args.queries))
            print_table(f"Simple SELECT on Chinook: {QUERY}", queried)
            print_overhead(queried)
            if args.profile == "analyze":
                spec = schema[args.profile_engine]
                profile(f"analysis read, {args.profile_engine}", _read(spec, ALLOW, Progress(None, None)))  # type: ignore[arg-type]
            elif args.profile == "query":
                spec = chinook[args.profile_engine]

                async def many() -> None:
                    for _ in range(100):
                        await guarded(spec)

                profile(f"100 x check_sql + execute, {args.profile_engine}", many())
        finally:
            postgres.stop()
            mariadb.stop()
    print(
        f"\nload average at end: {' '.join(f'{v:.2f}' for v in os.getloadavg())}; "
        f"total {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
