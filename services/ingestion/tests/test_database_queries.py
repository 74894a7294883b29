"""`run_query` against real engines loaded with Chinook: the embedded PostgreSQL, the `mariadb`
fixture's MariaDB (as root: the guard and the engine must hold even for an account that can write)
and an uploaded SQLite file. Connections are created through the API.

Every attack statement of the guard's suite (test_database_guard.ATTACKS, per dialect) goes through
`run_query`: each is refused (the guard's 422, or the engine's), the database is unchanged (a
checksum of every Chinook table and the list of tables before and after) and, for SQLite, no file
appears beside the uploaded one. Safe queries return Chinook's rows, a long query is cut at its
timeout (504), and every run (ok, refused, timeout) has its audit row.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from pathlib import Path

import psycopg
import pymysql
import pytest
from sqlalchemy import select

from knowrithm_common.crypto import generate_key
from knowrithm_common.errors import ValidationFailed
from knowrithm_common.events import Actor
from knowrithm_common.testing import service_client
from knowrithm_ingestion.databases.engines import DatabaseQueryTimeout, parse_url
from knowrithm_ingestion.databases.guard import SqlRefused
from knowrithm_ingestion.databases.pipeline_guard import PipelineRefused
from knowrithm_ingestion.databases.queries.service import MAX_LIMIT, run_pipeline, run_query
from knowrithm_ingestion.models import DatabaseConnection, DatabaseQuery, DatabaseTable
from knowrithm_stack.chinook import CHINOOK_ROW_COUNTS, CHINOOK_TABLES, load_mysql, load_postgres, load_sqlite

from .support import add_agent, admin
from .test_database_guard import ATTACKS, TABLES

KEY = generate_key()
BASE = "/api/v1/database-connection"
CITY = "São José dos Campos"
LONG = "SELECT count(*) FROM track a CROSS JOIN track b CROSS JOIN track c"


@pytest.fixture(scope="session")
def queries_env(ingestion_env) -> dict[str, str]:
    return {**ingestion_env, "ENCRYPTION_KEY": KEY}


client = service_client("knowrithm_ingestion.main:create_app", env="queries_env", agents_owner=True)


# --- checksums of the databases, through their own drivers (not through what is tested) ----------


def pg_checksum(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        sums = {
            table: conn.execute(
                f"SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {table} t"
            ).fetchone()[0]
            for table in CHINOOK_TABLES
        }
        sums["<tables>"] = conn.execute(
            "SELECT string_agg(schemaname || '.' || tablename, ',' ORDER BY 1) FROM pg_tables"
            " WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()[0]
        sums["<roles>"] = conn.execute("SELECT string_agg(rolname, ',' ORDER BY 1) FROM pg_roles").fetchone()[0]
    return sums


def mysql_connect(url: str) -> pymysql.connections.Connection:
    p = parse_url("mysql", url)
    return pymysql.connect(host=p.host, port=p.port, user=p.user, password=p.password or "", database=p.database)


def mysql_checksum(url: str) -> dict[str, str]:
    conn = mysql_connect(url)
    try:
        with conn.cursor() as cursor:
            cursor.execute("CHECKSUM TABLE " + ", ".join(CHINOOK_TABLES) + " EXTENDED")
            sums = {name.split(".")[-1]: str(value) for name, value in cursor.fetchall()}
            cursor.execute("SELECT GROUP_CONCAT(table_schema, '.', table_name ORDER BY 1) FROM"
                           " information_schema.tables WHERE table_schema NOT IN"
                           " ('mysql', 'information_schema', 'performance_schema', 'sys')")
            sums["<tables>"] = cursor.fetchone()[0]
            cursor.execute("SELECT GROUP_CONCAT(user, '@', host ORDER BY 1) FROM mysql.user")
            sums["<users>"] = cursor.fetchone()[0]
    finally:
        conn.close()
    return sums


def sqlite_checksum(path: Path) -> dict[str, str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        sums = {}
        for table in CHINOOK_TABLES:
            digest = hashlib.sha256()
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
                digest.update(repr(row).encode())
            sums[table] = digest.hexdigest()
        sums["<schema>"] = repr(conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY 2").fetchall())
    finally:
        conn.close()
    sums["<file>"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return sums


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# --- the three Chinook databases and their connections -----------------------------------------


@pytest.fixture(scope="module")
def pg_chinook(stack) -> str:
    url = stack.create_database("queries_chinook")
    load_postgres(url)
    return url


@pytest.fixture(scope="module")
def maria_chinook(mariadb) -> str:
    url = mariadb.create_database("queries_chinook")
    load_mysql(url)
    return url


@pytest.fixture(scope="module")
def sqlite_chinook(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("chinook") / "chinook.sqlite"
    load_sqlite(path)
    return path.read_bytes()


@pytest.fixture
async def company(client):
    company_id, agent_id = await add_agent(client.app)
    return company_id, agent_id, admin(company_id)


async def connect(call, company, engine: str, *, url: str | None = None, file: bytes | None = None) -> uuid.UUID:
    _, agent_id, principal = company
    form = {"name": f"chinook {uuid.uuid4().hex[:6]}", "database_type": engine, "agent_id": str(agent_id)}
    if file is not None:
        r = await call("POST", BASE, principal, data=form, files={"file": ("chinook.sqlite", file)})
    else:
        r = await call("POST", BASE, principal, json={**form, "url": url})
    assert r.status_code == 201, r.text
    return uuid.UUID(r.json()["connection"]["id"])


async def load(client, connection_id: uuid.UUID) -> DatabaseConnection:
    async with client.app.state.db.sessions() as session:
        stmt = select(DatabaseConnection).where(DatabaseConnection.id == connection_id)
        return (await session.scalars(stmt)).one()


async def query(client, connection_id, sql, *, source="person", limit=100, timeout_s=10.0, actor=None):
    connection = await load(client, connection_id)
    async with client.app.state.db.sessions() as session:
        return await run_query(session, client.app.state.deps, connection, sql,
                               actor=actor, limit=limit, timeout_s=timeout_s, source=source)


async def audit(client, connection_id) -> list[DatabaseQuery]:
    async with client.app.state.db.sessions() as session:
        stmt = select(DatabaseQuery).where(DatabaseQuery.connection_id == connection_id)
        return list((await session.scalars(stmt.order_by(DatabaseQuery.created_at))).all())


def sqlite_blob(client, connection: DatabaseConnection) -> Path:
    return client.app.state.deps.blobs.root / str(connection.sqlite_blob_key)


async def analysed(client, connection_id: uuid.UUID, schema: str, names=TABLES) -> None:
    """The tables an analysis would have stored (the guard suite's list: `employee`, `genre`, …
    exist in Chinook but are not the connection's active tables)."""
    connection = await load(client, connection_id)
    async with client.app.state.db.sessions() as session:
        for name in names:
            session.add(DatabaseTable(company_id=connection.company_id, agent_id=connection.agent_id,
                                      connection_id=connection_id, name=name, schema_name=schema,
                                      columns=[], primary_key=[], foreign_keys=[], sample_rows=[]))
        await session.commit()


async def run_attacks(client, connection_id, dialect: str) -> list[str]:
    """Every attack of `dialect`; the ones that were not refused by the guard (the engine refused
    them, or they RAN)."""
    escaped = []
    for name, sql, _ in ATTACKS[dialect]:  # type: ignore[index]
        try:
            result = await query(client, connection_id, sql, timeout_s=5.0)
        except ValidationFailed as exc:  # SqlRefused, or the engine's database_query_failed
            assert exc.status_code == 422
            if not isinstance(exc, SqlRefused):
                escaped.append(f"{name}: guard let it through, the engine refused it ({exc.code})")
        else:
            escaped.append(f"{name}: RAN ({result.rows[:2]})")
    return escaped


# --- the attack suite per engine ---------------------------------------------------------------


async def test_postgres_attacks_are_refused_and_chinook_is_unchanged(client, call, company, pg_chinook):
    connection_id = await connect(call, company, "postgresql", url=pg_chinook)
    await analysed(client, connection_id, "public")
    before = pg_checksum(pg_chinook)
    escaped = await run_attacks(client, connection_id, "postgresql")
    assert pg_checksum(pg_chinook) == before
    assert [e for e in escaped if "RAN" in e] == []
    assert escaped == [], escaped  # the guard itself refused every one
    rows = await audit(client, connection_id)
    assert len(rows) == len(ATTACKS["postgresql"]) and {r.outcome for r in rows} == {"refused"}


async def test_mariadb_attacks_are_refused_and_chinook_is_unchanged(client, call, company, maria_chinook):
    connection_id = await connect(call, company, "mysql", url=maria_chinook)
    await analysed(client, connection_id, "queries_chinook")
    before = mysql_checksum(maria_chinook)
    escaped = await run_attacks(client, connection_id, "mysql")
    assert mysql_checksum(maria_chinook) == before
    assert escaped == [], escaped
    assert {r.outcome for r in await audit(client, connection_id)} == {"refused"}


async def test_sqlite_attacks_are_refused_the_file_unchanged_and_no_file_created(
    client, call, company, sqlite_chinook
):
    connection_id = await connect(call, company, "sqlite", file=sqlite_chinook)
    await analysed(client, connection_id, "")
    blob = sqlite_blob(client, await load(client, connection_id))
    before, files = sqlite_checksum(blob), listing(blob.parent.parent)
    escaped = await run_attacks(client, connection_id, "sqlite")
    assert sqlite_checksum(blob) == before
    assert listing(blob.parent.parent) == files
    assert escaped == [], escaped
    assert {r.outcome for r in await audit(client, connection_id)} == {"refused"}


# --- safe queries, limits, timeouts and the audit ------------------------------------------------


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
async def test_safe_queries_return_chinook_rows_and_are_audited(
    client, call, company, engine, pg_chinook, maria_chinook, sqlite_chinook
):
    if engine == "sqlite":
        connection_id = await connect(call, company, engine, file=sqlite_chinook)
    else:
        connection_id = await connect(call, company, engine, url=pg_chinook if engine == "postgresql" else maria_chinook)
    who = Actor(kind="user", id=uuid.uuid4())
    result = await query(client, connection_id, "SELECT city FROM customer WHERE customer_id = 1", actor=who)
    assert (result.columns, result.rows) == (["city"], [[CITY]])
    joined = await query(
        client, connection_id,
        "SELECT c.first_name, count(*) AS n FROM customer c JOIN invoice i ON i.customer_id = c.customer_id"
        " WHERE c.customer_id = 1 GROUP BY c.first_name", source="model")
    assert joined.rows == [["Luís", 7]]
    many = await query(client, connection_id, "SELECT track_id FROM track", limit=50_000)
    assert len(many.rows) == MAX_LIMIT < CHINOOK_ROW_COUNTS["track"]
    small = await query(client, connection_id, "SELECT track_id FROM track LIMIT 5000", limit=3)
    assert len(small.rows) == 3
    with pytest.raises(SqlRefused):
        await query(client, connection_id, "SELECT * FROM customer; DROP TABLE customer")
    rows = await audit(client, connection_id)
    assert [(r.outcome, r.source) for r in rows] == [
        ("ok", "person"), ("ok", "model"), ("ok", "person"), ("ok", "person"), ("refused", "person")]
    assert (rows[0].actor_kind, rows[0].actor_id, rows[0].rows) == ("user", who.id, 1)
    first = hashlib.sha256(b"SELECT city FROM customer WHERE customer_id = 1").hexdigest()
    assert rows[0].sql_sha256 == first and rows[0].elapsed_ms is not None
    assert (rows[-1].error_code, rows[-1].rows, rows[-1].company_id) == ("sql_refused", None, company[0])


@pytest.mark.parametrize("engine", ["postgresql", "mysql", "sqlite"])
async def test_a_long_query_is_cut_at_its_timeout(
    client, call, company, engine, pg_chinook, maria_chinook, sqlite_chinook
):
    if engine == "sqlite":
        connection_id = await connect(call, company, engine, file=sqlite_chinook)
    else:
        connection_id = await connect(call, company, engine, url=pg_chinook if engine == "postgresql" else maria_chinook)
    started = time.monotonic()
    with pytest.raises(DatabaseQueryTimeout) as cut:
        await query(client, connection_id, LONG, timeout_s=1.0)
    assert time.monotonic() - started < 6
    assert cut.value.status_code == 504
    [row] = await audit(client, connection_id)
    assert (row.outcome, row.error_code) == ("timeout", "database_query_timeout")


async def test_analysed_tables_bound_what_a_query_may_read(client, call, company, pg_chinook):
    connection_id = await connect(call, company, "postgresql", url=pg_chinook)
    await analysed(client, connection_id, "public", ["customer", "invoice"])
    assert (await query(client, connection_id, "SELECT count(*) FROM public.invoice")).rows == [[412]]
    with pytest.raises(SqlRefused, match="track"):
        await query(client, connection_id, "SELECT * FROM track")
    with pytest.raises(SqlRefused, match="system catalog"):
        await query(client, connection_id, "SELECT * FROM pg_catalog.pg_authid")


async def test_pipelines_are_guarded_and_audited_before_any_connection(client, call, company):
    """A MongoDB connection to a closed port: the refused pipeline never reaches it, and is audited."""
    connection_id = await connect(call, company, "mongodb", url="mongodb://u:pw@127.0.0.1:1/shop")
    connection = await load(client, connection_id)
    async with client.app.state.db.sessions() as session:
        with pytest.raises(PipelineRefused, match=r"\$out"):
            await run_pipeline(session, client.app.state.deps, connection, "orders",
                               [{"$match": {}}, {"$out": "stolen"}], actor=None, limit=10, timeout_s=1)
        with pytest.raises(SqlRefused, match="pipeline"):
            await run_query(session, client.app.state.deps, connection, "SELECT 1", actor=None,
                            limit=10, timeout_s=1, source="person")
    rows = await audit(client, connection_id)
    assert [(r.outcome, r.error_code, r.actor_kind) for r in rows] == [
        ("refused", "pipeline_refused", "system"), ("refused", "sql_refused", "system")]
