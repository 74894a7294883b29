"""One contract every database engine keeps, on Chinook (11 tables, 15,607 rows) in a real server.

PostgreSQL (the embedded one), MariaDB (the fixtures' own mariadbd) and SQLite (a file) always run.
MongoDB and SQL Server cannot run on this machine: their rows run wherever `MONGODB_URL` /
`MSSQL_URL` name a server (`docker compose up -d mongodb mssql`, see docs/ingestion.md "Contract
suites for MongoDB and MSSQL"), and are skipped, saying which variable is missing, elsewhere.
Both URLs must be an administrator's: the fixture creates a `knowrithm_contract` database, loads
Chinook and creates a read-only account, as docs/ingestion.md tells a company to.
MongoDB's wire path without a server is tested with mockupdb in test_database_engines.py.

The contract: probe (version, latency, write warnings for an account that can write and none for a
read-only one), reflect (Chinook's tables, primary and foreign keys, row counts), sample (rows that
analysis masks before keeping), execute (the guard's clamped limit, the engine's own row bound),
a write refused even for the administrator and nothing changed, a slow query cut at its timeout,
and an unreachable database answered without the password.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest

from knowrithm_ingestion.databases.analysis.masking import mask_rows
from knowrithm_ingestion.databases.engines import (
    ConnectionParams,
    ConnectionSpec,
    MongoQuery,
    get_engine,
    parse_url,
)
from knowrithm_ingestion.databases.engines.errors import (
    DatabaseQueryFailed,
    DatabaseQueryTimeout,
    DatabaseUnreachable,
)
from knowrithm_ingestion.databases.guard import SqlRefused, check_sql
from knowrithm_ingestion.databases.pipeline_guard import PipelineRefused, check_pipeline
from knowrithm_stack.chinook import (
    CHINOOK_FOREIGN_KEYS,
    CHINOOK_PRIMARY_KEYS,
    CHINOOK_ROW_COUNTS,
    CHINOOK_TABLES,
    TABLES,
    chinook_rows,
    load_mongo,
    load_mssql,
)

ENGINES = ["postgresql", "mariadb", "sqlite", "mongodb", "mssql"]
CONTRACT_DB = "knowrithm_contract"
SECRET = "hunter2-contract"  # the password of every unreachable URL: it must never come back
SLOW_SQL = "SELECT count(*) FROM track a CROSS JOIN track b CROSS JOIN track c"  # 43 billion rows
# On MongoDB: every track against every playlist entry against every invoice line (68 billion
# comparisons); each `$lookup` refers to its outer document (`let`), so MongoDB cannot cache it.
SLOW_PIPELINE = [
    {
        "$lookup": {
            "from": "playlist_track",
            "let": {"outer": "$track_id"},
            "pipeline": [
                {"$match": {"$expr": {"$ne": ["$track_id", "$$outer"]}}},
                {
                    "$lookup": {
                        "from": "invoice_line",
                        "let": {"entry": "$track_id"},
                        "pipeline": [
                            {"$match": {"$expr": {"$eq": ["$quantity", {"$multiply": ["$$entry", -1]}]}}}
                        ],
                        "as": "lines",
                    }
                },
                {"$match": {"lines.0": {"$exists": True}}},
            ],
            "as": "entries",
        }
    },
    {"$count": "n"},
]


@dataclass
class Db:
    """One engine as the contract drives it."""

    id: str
    engine: str
    dialect: str | None  # the guard's dialect; None for MongoDB (pipelines)
    reader: ConnectionSpec  # a read-only account
    admin: ConnectionSpec  # the most powerful account the fixture has
    allow: list[str]
    admin_warned: bool  # whether probing the admin account warns that it can write
    exact_counts: bool = True  # row estimates are exact for Chinook (MariaDB's InnoDB estimates)
    unreachable: list[ConnectionSpec] = field(default_factory=list)

    def query(self, sql: str, pipeline: tuple[str, list[dict[str, Any]]]) -> Any:
        return sql if self.dialect else MongoQuery(*pipeline)


def _customer(column: str) -> int:
    (table,) = [t for t in TABLES if t.name == "customer"]
    return [c.name for c in table.columns].index(column)


def brazilians() -> list[list[Any]]:
    """Chinook's customers in Brazil, by id: [first_name, city]."""
    rows = sorted(chinook_rows()["customer"], key=lambda r: r[0])
    first, city, country = _customer("first_name"), _customer("city"), _customer("country")
    return [[r[first], r[city]] for r in rows if r[country] == "Brazil"]


def closed_and_unknown(engine: str, scheme: str, path: str) -> list[ConnectionSpec]:
    params = ConnectionParams(connect_timeout=2)
    return [
        ConnectionSpec(engine=engine, url=f"{scheme}://u:{SECRET}@127.0.0.1:1/{path}", params=params),  # type: ignore[arg-type]
        ConnectionSpec(engine=engine, url=f"{scheme}://u:{SECRET}@db.invalid/{path}", params=params),  # type: ignore[arg-type]
    ]


# --- Chinook in each engine ------------------------------------------------------------------------


def _postgres(request) -> Db:
    url = request.getfixturevalue("chinook_pg")
    password = secrets.token_urlsafe(12)
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'contract_reader'").fetchone():
            conn.execute("DROP OWNED BY contract_reader")
            conn.execute("DROP ROLE contract_reader")
        conn.execute(f"CREATE ROLE contract_reader LOGIN PASSWORD '{password}'")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO contract_reader")
    reader = url.replace("postgres@", f"contract_reader:{password}@", 1)
    return Db(
        id="postgresql",
        engine="postgresql",
        dialect="postgresql",
        reader=ConnectionSpec(engine="postgresql", url=reader),
        admin=ConnectionSpec(engine="postgresql", url=url),
        allow=["127.0.0.1/32"],
        admin_warned=True,  # the embedded server's superuser
        unreachable=closed_and_unknown("postgresql", "postgresql", "chinook"),
    )


def _mariadb(request) -> Db:
    reader = request.getfixturevalue("chinook_maria")
    mariadb = request.getfixturevalue("mariadb")
    admin = mariadb.dsn(parse_url("mysql", reader).database)
    return Db(
        id="mariadb",
        engine="mysql",
        dialect="mysql",
        reader=ConnectionSpec(engine="mysql", url=reader),
        admin=ConnectionSpec(engine="mysql", url=admin),
        allow=["127.0.0.1/32"],
        admin_warned=True,  # root: ALL PRIVILEGES
        exact_counts=False,
        unreachable=closed_and_unknown("mysql", "mariadb", "chinook"),
    )


def _sqlite(request, tmp: Path) -> Db:
    path = tmp / "chinook.sqlite"
    path.write_bytes(request.getfixturevalue("chinook_sqlite"))
    (tmp / "not-a-database.sqlite").write_text("hello")
    spec = ConnectionSpec(engine="sqlite", url=str(path))
    return Db(
        id="sqlite",
        engine="sqlite",
        dialect="sqlite",
        reader=spec,
        admin=spec,  # a file opened read-only: no account can write
        allow=[],
        admin_warned=False,
        unreachable=[
            ConnectionSpec(engine="sqlite", url=str(tmp / "missing.sqlite")),
            ConnectionSpec(engine="sqlite", url=str(tmp / "not-a-database.sqlite")),
        ],
    )


def _with_database(url: str, database: str, **query: str) -> str:
    parts = urlsplit(url)
    extra = "&".join(f"{k}={v}" for k, v in query.items() if k not in parts.query)
    return urlunsplit(
        parts._replace(path=f"/{database}", query="&".join(q for q in (parts.query, extra) if q))
    )


def _mongodb() -> Db:
    url = os.environ.get("MONGODB_URL")
    if not url:
        pytest.skip("MONGODB_URL is not set: the MongoDB contract suite needs a server (docs/ingestion.md)")
    parsed = parse_url("mongodb", url)
    admin = _with_database(url, CONTRACT_DB, **({"authSource": "admin"} if parsed.user else {}))
    load_mongo(admin)
    reader = admin
    if parsed.user:  # a user with the read role only, as docs/ingestion.md recommends
        from pymongo import MongoClient

        password = secrets.token_urlsafe(12)
        client: MongoClient[dict[str, Any]] = MongoClient(admin)
        try:
            db = client[CONTRACT_DB]
            if db.command("usersInfo", "contract_reader")["users"]:
                db.command("dropUser", "contract_reader")
            db.command(
                "createUser", "contract_reader", pwd=password, roles=[{"role": "read", "db": CONTRACT_DB}]
            )
        finally:
            client.close()
        netloc = urlsplit(admin).netloc.rpartition("@")[2]
        reader = f"mongodb://contract_reader:{password}@{netloc}/{CONTRACT_DB}"
    return Db(
        id="mongodb",
        engine="mongodb",
        dialect=None,
        reader=ConnectionSpec(engine="mongodb", url=reader),
        admin=ConnectionSpec(engine="mongodb", url=admin),
        allow=[host for host, _ in parsed.hosts] + ["127.0.0.1/32"],
        admin_warned=bool(parsed.user),  # no user: a server without authentication, no roles to read
        unreachable=closed_and_unknown("mongodb", "mongodb", "chinook"),
    )


def _mssql() -> Db:
    url = os.environ.get("MSSQL_URL")
    if not url:
        pytest.skip("MSSQL_URL is not set: the SQL Server contract suite needs a server (docs/ingestion.md)")
    import pymssql

    parsed = parse_url("mssql", url)
    conn = pymssql.connect(
        server=parsed.host,
        port=str(parsed.port),
        user=parsed.user or "",
        password=parsed.password or "",
        database="master",
        autocommit=True,
    )
    password = "Rd-" + secrets.token_hex(12) + "-a1"
    try:
        cursor = conn.cursor()
        cursor.execute(
            f"IF DB_ID('{CONTRACT_DB}') IS NOT NULL BEGIN "
            f"ALTER DATABASE {CONTRACT_DB} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {CONTRACT_DB} END"
        )
        cursor.execute(f"CREATE DATABASE {CONTRACT_DB}")
        admin = _with_database(url, CONTRACT_DB)
        load_mssql(admin)
        # docs/ingestion.md's recipe for a read-only login
        cursor.execute("IF SUSER_ID('contract_reader') IS NOT NULL DROP LOGIN contract_reader")
        cursor.execute(f"CREATE LOGIN contract_reader WITH PASSWORD = N'{password}'")
        cursor.execute(
            f"USE {CONTRACT_DB}; CREATE USER contract_reader FOR LOGIN contract_reader; "
            "ALTER ROLE db_datareader ADD MEMBER contract_reader"
        )
    finally:
        conn.close()
    netloc = urlsplit(admin).netloc.rpartition("@")[2]
    return Db(
        id="mssql",
        engine="mssql",
        dialect="mssql",
        reader=ConnectionSpec(
            engine="mssql", url=f"mssql://contract_reader:{quote(password)}@{netloc}/{CONTRACT_DB}"
        ),
        admin=ConnectionSpec(engine="mssql", url=admin),
        allow=[parsed.host, "127.0.0.1/32"],
        admin_warned=True,  # the URL must be an administrator's (it creates the database)
        unreachable=closed_and_unknown("mssql", "mssql", "chinook"),
    )


@pytest.fixture(scope="module", params=ENGINES, ids=ENGINES)
def db(request, tmp_path_factory) -> Db:
    if request.param == "postgresql":
        return _postgres(request)
    if request.param == "mariadb":
        return _mariadb(request)
    if request.param == "sqlite":
        return _sqlite(request, tmp_path_factory.mktemp("contract"))
    if request.param == "mongodb":
        return _mongodb()
    return _mssql()


async def count(db: Db, table: str) -> int:
    query = db.query(f"SELECT count(*) FROM {table}", (table, [{"$count": "n"}]))
    result = await get_engine(db.engine).execute(db.admin, db.allow, query, limit=1, timeout_s=30)
    return int(result.rows[0][0]) if result.rows else 0


# --- The contract --------------------------------------------------------------------------------


async def test_probe_reads_the_version_and_warns_only_for_an_account_that_can_write(db):
    engine = get_engine(db.engine)
    admin, reader = await engine.probe(db.admin, db.allow), await engine.probe(db.reader, db.allow)
    for probe in (admin, reader):
        assert probe.reachable and probe.error is None
        assert probe.server_version and probe.latency_ms is not None and probe.latency_ms >= 0
    assert bool(admin.warnings) == db.admin_warned, admin.warnings
    assert reader.warnings == []


async def test_reflect_finds_chinooks_tables_keys_and_counts(db):
    tables = {t.name: t for t in await get_engine(db.engine).reflect(db.reader, db.allow)}
    assert set(tables) == set(CHINOOK_TABLES)
    if db.dialect is None:  # collections: `_id` is the key, nothing declares references
        assert all(
            t.kind == "collection" and t.primary_key == ["_id"] and not t.foreign_keys
            for t in tables.values()
        )
        assert {"first_name", "city", "email"} <= {c.name for c in tables["customer"].columns}
    else:
        assert {name: tuple(t.primary_key) for name, t in tables.items()} == CHINOOK_PRIMARY_KEYS
        found = {
            (name, tuple(fk.columns), fk.ref_table, tuple(fk.ref_columns))
            for name, t in tables.items()
            for fk in t.foreign_keys
        }
        assert found == set(CHINOOK_FOREIGN_KEYS)
        email = next(c for c in tables["customer"].columns if c.name == "email")
        assert (
            "char" in email.type.lower()
            and not next(c for c in tables["customer"].columns if c.name == "customer_id").nullable
        )
    for name, rows in CHINOOK_ROW_COUNTS.items():
        estimate = tables[name].row_estimate
        assert estimate is not None
        if db.exact_counts:
            assert estimate == rows, name


async def test_reflect_gives_each_chinook_table_its_size_on_disk(db):
    """MongoDB `collStats` totalSize, SQL Server's allocation units: every loaded table takes room."""
    tables = await get_engine(db.engine).reflect(db.reader, db.allow)
    sizes = {t.name: t.size_bytes for t in tables if t.name in CHINOOK_ROW_COUNTS}
    assert sizes and all(isinstance(s, int) and s > 0 for s in sizes.values()), sizes


async def test_sample_rows_come_back_and_are_masked_before_they_are_kept(db):
    engine = get_engine(db.engine)
    (customer,) = [t for t in await engine.reflect(db.reader, db.allow) if t.name == "customer"]
    rows = await engine.sample(db.reader, db.allow, "customer", 3, schema=customer.schema)
    assert len(rows) == 3
    by_id = {row["customer_id"]: row for row in rows}
    assert by_id[1]["first_name"] == "Luís" and by_id[1]["email"] == "luisg@embraer.com.br"
    kept = {row["customer_id"]: row for row in mask_rows(rows)}
    assert kept[1]["email"] == "l***@embraer.com.br"
    assert kept[1]["phone"].startswith("***-***-") and kept[1]["phone"][-4:] == by_id[1]["phone"][-4:]
    assert kept[1]["city"] == "São José dos Campos"


async def test_a_select_is_clamped_to_the_limit_and_bounded_by_the_engine(db):
    engine = get_engine(db.engine)
    sql = "SELECT first_name, city FROM customer WHERE country = 'Brazil' ORDER BY customer_id LIMIT 100"
    stages = [
        {"$match": {"country": "Brazil"}},
        {"$sort": {"customer_id": 1}},
        {"$project": {"_id": 0, "first_name": 1, "city": 1}},
        {"$limit": 100},
    ]
    if db.dialect:
        guarded: Any = check_sql(sql, dialect=db.dialect, tables=CHINOOK_TABLES, limit=3).sql  # type: ignore[arg-type]
    else:
        checked = check_pipeline("customer", stages, collections=CHINOOK_TABLES, limit=3, max_time_ms=5000)
        guarded = MongoQuery(checked.collection, checked.pipeline)
    clamped = await engine.execute(db.reader, db.allow, guarded, limit=3, timeout_s=10)
    assert clamped.columns == ["first_name", "city"] and clamped.rows == brazilians()[:3]
    unbounded = db.query(sql.removesuffix(" LIMIT 100"), ("customer", stages[:-1]))
    bounded = await engine.execute(db.reader, db.allow, unbounded, limit=2, timeout_s=10)
    assert bounded.rows == brazilians()[:2] and bounded.truncated


async def test_a_write_is_refused_even_for_the_administrator_and_nothing_changes(db):
    engine = get_engine(db.engine)
    before = await count(db, "invoice_line")
    writes: list[Any]
    if db.dialect:
        writes = [
            "DELETE FROM invoice_line",
            "UPDATE customer SET city = 'Nowhere'",
            "DROP TABLE invoice_line",
        ]
        for write in writes:
            with pytest.raises(SqlRefused):
                check_sql(write, dialect=db.dialect, tables=CHINOOK_TABLES, limit=10)  # type: ignore[arg-type]
    else:
        writes = [
            MongoQuery("invoice_line", [{"$out": "stolen"}]),
            MongoQuery("invoice_line", [{"$merge": {"into": "stolen"}}]),
        ]
        for write in writes:
            with pytest.raises(PipelineRefused):
                check_pipeline(write.collection, write.pipeline, collections=None, limit=10, max_time_ms=1000)
    for write in writes:  # the engine's own lock, for a caller that skipped the guard
        with pytest.raises(DatabaseQueryFailed) as refused:
            await engine.execute(db.admin, db.allow, write, limit=10, timeout_s=10)
        assert refused.value.status_code == 422
    assert await count(db, "invoice_line") == before == CHINOOK_ROW_COUNTS["invoice_line"]
    names = {t.name for t in await engine.reflect(db.admin, db.allow)}
    assert names == set(CHINOOK_TABLES)


async def test_a_slow_query_is_cut_at_its_timeout(db):
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DatabaseQueryTimeout) as cut:
        await get_engine(db.engine).execute(
            db.reader, db.allow, db.query(SLOW_SQL, ("track", SLOW_PIPELINE)), limit=1, timeout_s=0.5
        )
    assert cut.value.status_code == 504
    assert loop.time() - started < 5  # SQL Server's driver counts whole seconds: 1 s there


async def test_an_unreachable_database_is_an_answer_without_the_password(db):
    engine = get_engine(db.engine)
    for spec in db.unreachable:
        probe = await engine.probe(spec, db.allow)
        assert not probe.reachable and probe.error and SECRET not in probe.error
        with pytest.raises(DatabaseUnreachable) as failed:
            await engine.execute(spec, db.allow, db.query("SELECT 1", ("customer", [])), limit=1, timeout_s=5)
        assert failed.value.status_code == 502 and SECRET not in str(failed.value)
