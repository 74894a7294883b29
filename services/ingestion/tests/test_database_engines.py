"""The database engines against real servers: the embedded PostgreSQL, SQLite files, and MongoDB's
wire protocol through mockupdb. Egress refusals need no server (nothing is sent)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import psycopg
import pytest

from knowrithm_ingestion.databases.connections.urls import Engine, InvalidConnection, clean_params
from knowrithm_ingestion.databases.engines import (
    ConnectionParams,
    ConnectionSpec,
    get_engine,
    masked,
    parse_url,
)
from knowrithm_ingestion.databases.engines.base import MongoQuery
from knowrithm_ingestion.databases.engines.egress import check_host
from knowrithm_ingestion.databases.engines.errors import (
    DatabaseQueryFailed,
    DatabaseRefused,
    DatabaseUnreachable,
    InvalidConnectionUrl,
)

LOCAL = ["127.0.0.1/32"]  # the embedded servers listen on 127.0.0.1
SCHEMA = """
CREATE TABLE artist (artist_id int PRIMARY KEY, name text NOT NULL);
COMMENT ON TABLE artist IS 'People and bands';
COMMENT ON COLUMN artist.name IS 'Name as printed on the cover';
CREATE TABLE album (album_id int PRIMARY KEY, title text, artist_id int NOT NULL REFERENCES artist (artist_id));
INSERT INTO artist VALUES (1, 'AC/DC'), (2, 'Accept'), (3, 'Aerosmith');
INSERT INTO album VALUES (1, 'For Those About To Rock', 1), (2, 'Balls to the Wall', 2), (3, 'Restless', 2);
CREATE ROLE reader LOGIN PASSWORD 'reader-secret';
GRANT SELECT ON artist, album TO reader;
CREATE ROLE writer LOGIN;
GRANT SELECT, INSERT ON album TO writer;
"""


@pytest.fixture(scope="module")
def pg_url(stack) -> str:
    url = stack.create_database("engines_music")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS reader")
        conn.execute("DROP ROLE IF EXISTS writer")
        conn.execute(SCHEMA)
    return url


def pg(url: str, **params) -> ConnectionSpec:
    return ConnectionSpec(engine="postgresql", url=url, params=ConnectionParams(**params))


def as_reader(url: str) -> str:
    return url.replace("postgres@", "reader:reader-secret@")


# --- URLs -----------------------------------------------------------------------------------------


def test_parse_url_reads_every_scheme_and_masks_the_password():
    for url in (
        "postgres://u:p%40ss@db.example.com:6543/shop",
        "postgresql+psycopg://u:p%40ss@db.example.com:6543/shop",
    ):
        parsed = parse_url("postgresql", url)
        assert (parsed.host, parsed.port, parsed.database, parsed.user, parsed.password) == (
            "db.example.com",
            6543,
            "shop",
            "u",
            "p@ss",
        )
    assert parse_url("mysql", "mariadb://u:p@db.example.com/shop").port == 3306
    mongo = parse_url("mongodb", "mongodb://u:p@a.example.com:1,b.example.com/app?authSource=admin")
    assert mongo.hosts == (("a.example.com", 1), ("b.example.com", 27017)) and mongo.auth_source == "admin"
    assert parse_url("mongodb", "mongodb+srv://u:p@cluster0.example.com/app").srv
    assert masked("postgresql://u:s3cr%2Ft@db.example.com/shop") == "postgresql://u:***@db.example.com/shop"
    assert (
        masked("mssql://sa:pw@db.example.com/x?password=pw") == "mssql://sa:***@db.example.com/x?password=***"
    )
    assert "s3cret" not in repr(pg("postgresql://u:s3cret@db.example.com/x"))


def test_parse_url_refuses_the_wrong_scheme_without_quoting_the_password():
    with pytest.raises(InvalidConnectionUrl) as refused:
        parse_url("postgresql", "mysql://u:hunter2@db.example.com/x")
    with pytest.raises(InvalidConnectionUrl) as bad_port:
        parse_url("postgresql", "postgresql://u:hunter2@db.example.com:99999/x")
    assert "hunter2" not in str(refused.value) + str(bad_port.value)


def test_connection_params_take_only_the_allow_list():
    with pytest.raises(ValueError):
        ConnectionParams(local_infile=True)
    with pytest.raises(ValueError):
        ConnectionParams(connect_timeout=60)


# --- Egress ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "localhost", "[::1]", "2130706433"]
)
async def test_private_and_local_hosts_are_refused(host):
    spec = pg(f"postgresql://u:hunter2@{host}:5432/x")
    with pytest.raises(DatabaseRefused) as refused:
        await get_engine("postgresql").probe(spec, [])
    assert refused.value.status_code == 422 and refused.value.code == "database_host_refused"
    assert "hunter2" not in str(refused.value)


async def test_a_name_resolving_to_a_private_address_is_refused_without_saying_which():
    async def resolver(host, port):
        return ["10.0.0.7"]

    with pytest.raises(DatabaseRefused) as refused:
        await check_host("db.internal.example.com", 5432, [], resolver=resolver)
    assert "10.0.0.7" not in str(refused.value)
    allowed = await check_host("db.internal.example.com", 5432, ["10.0.0.0/8"], resolver=resolver)
    assert allowed.ip == "10.0.0.7"


async def test_allow_listed_cidr_lets_loopback_through(pg_url):
    probe = await get_engine("postgresql").probe(pg(pg_url), LOCAL)
    assert probe.reachable and probe.server_version and probe.latency_ms is not None


# --- PostgreSQL -----------------------------------------------------------------------------------


async def test_probe_warns_for_a_superuser_and_not_for_a_read_only_role(pg_url):
    engine = get_engine("postgresql")
    admin = await engine.probe(pg(pg_url), LOCAL)
    reader = await engine.probe(pg(as_reader(pg_url)), LOCAL)
    assert any("superuser" in w for w in admin.warnings)
    assert reader.reachable and reader.warnings == []
    (writer,) = (await engine.probe(pg(pg_url.replace("postgres@", "writer@")), LOCAL)).warnings
    assert "public.album" in writer and "public.artist" not in writer


async def test_reflect_reads_columns_keys_comments_and_estimates(pg_url):
    tables = {t.name: t for t in await get_engine("postgresql").reflect(pg(pg_url), LOCAL)}
    assert set(tables) == {"artist", "album"}
    artist, album = tables["artist"], tables["album"]
    assert (
        artist.schema == "public"
        and artist.primary_key == ["artist_id"]
        and artist.comment == "People and bands"
    )
    name = next(c for c in artist.columns if c.name == "name")
    assert (name.type, name.nullable, name.comment) == ("text", False, "Name as printed on the cover")
    assert [(f.columns, f.ref_table, f.ref_columns) for f in album.foreign_keys] == [
        (["artist_id"], "artist", ["artist_id"])
    ]
    assert next(c for c in album.columns if c.name == "album_id").primary_key


async def test_reflect_keeps_to_the_table_allow_list(pg_url):
    tables = await get_engine("postgresql").reflect(pg(pg_url, tables=["album"]), LOCAL)
    assert [t.name for t in tables] == ["album"]


async def test_stacked_statements_do_not_escape_the_read_only_transaction(pg_url):
    engine = get_engine("postgresql")
    for attack in (
        "SELECT 1; COMMIT; CREATE TABLE escaped ()",
        "SELECT 1; DROP TABLE album",
        "COMMIT; CREATE TABLE escaped ()",
        "WITH gone AS (DELETE FROM album RETURNING *) SELECT * FROM gone",
        "SELECT set_config('transaction_read_only', 'off', false)",
        "CREATE TABLE escaped ()",
        "DELETE FROM album",
    ):
        with pytest.raises(DatabaseQueryFailed):
            await engine.execute(pg(pg_url), LOCAL, attack, limit=10, timeout_s=5)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('escaped')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM album").fetchone()[0] == 3


async def test_connection_errors_never_carry_the_password(pg_url):
    spec = pg("postgresql://u:hunter2@127.0.0.1:1/x?sslmode=disable", connect_timeout=2)
    with pytest.raises(DatabaseUnreachable) as failed:
        await get_engine("postgresql").execute(spec, LOCAL, "SELECT 1", limit=1, timeout_s=5)
    assert failed.value.status_code == 502 and "hunter2" not in str(failed.value)
    with pytest.raises(DatabaseQueryFailed) as rejected:
        await get_engine("postgresql").execute(
            pg(as_reader(pg_url)), LOCAL, "SELECT nope FROM artist", limit=1, timeout_s=5
        )
    assert "reader-secret" not in str(rejected.value)


# --- SQLite ---------------------------------------------------------------------------------------


@pytest.fixture
def sqlite_file(tmp_path) -> Path:
    path = tmp_path / "music.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE artist (artist_id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            CREATE TABLE album (album_id INTEGER PRIMARY KEY, title TEXT,
                                artist_id INTEGER NOT NULL REFERENCES artist (artist_id));
            INSERT INTO artist VALUES (1, 'AC/DC'), (2, 'Accept');
            INSERT INTO album VALUES (1, 'For Those About To Rock', 1), (2, 'Balls to the Wall', 2);
        """)
    conn.close()
    return path


def lite(path: Path) -> ConnectionSpec:
    return ConnectionSpec(engine="sqlite", url=str(path))


async def test_sqlite_executes_selects_and_refuses_the_rest_creating_no_file(sqlite_file):
    engine, spec = get_engine("sqlite"), lite(sqlite_file)
    before = sorted(p.name for p in sqlite_file.parent.iterdir())
    checksum = sqlite_file.read_bytes()
    result = await engine.execute(
        spec,
        [],
        "SELECT a.name, count(*) AS n FROM artist a JOIN album b USING (artist_id) GROUP BY 1 ORDER BY 1",
        limit=1,
        timeout_s=5,
    )
    assert result.columns == ["name", "n"] and result.rows == [["AC/DC", 1]] and result.truncated
    attacks = [
        f"ATTACH DATABASE '{sqlite_file.parent / 'new.db'}' AS x",
        "PRAGMA writable_schema = ON",
        "SELECT 1; DROP TABLE album",
        "DELETE FROM album",
        "CREATE TABLE t (x)",
        "BEGIN",
        "SELECT load_extension('x')",
        "SELECT randomblob(1000000000)",
        "INSERT INTO artist VALUES (9, 'x')",
    ]
    for attack in attacks:
        with pytest.raises(DatabaseQueryFailed):
            await engine.execute(spec, [], attack, limit=10, timeout_s=5)
    assert sorted(p.name for p in sqlite_file.parent.iterdir()) == before
    assert sqlite_file.read_bytes() == checksum


# --- MongoDB (wire protocol through mockupdb) -----------------------------------------------------


@pytest.fixture
def mongo_server():
    from mockupdb import MockupDB

    server = MockupDB(auto_ismaster={"maxWireVersion": 21, "minWireVersion": 0})
    server.run()
    yield server
    server.stop()


async def test_mongo_execute_sends_aggregate_with_pipeline_max_time_and_cursor(mongo_server):
    seen = []

    def answer(request):
        if request.command_name in ("hello", "ismaster", "isMaster"):
            return False
        if request.command_name != "aggregate":
            return request.ok()
        seen.append(request.doc)
        return request.ok(
            cursor={
                "id": 0,
                "ns": "shop.orders",
                "firstBatch": [
                    {"_id": 1, "city": "Oslo"},
                    {"_id": 2, "city": "Paris"},
                    {"_id": 3, "city": "Rome"},
                ],
            }
        )

    mongo_server.autoresponds(answer)
    spec = ConnectionSpec(
        engine="mongodb",
        url=f"mongodb://127.0.0.1:{mongo_server.port}/shop",
        params=ConnectionParams(connect_timeout=3),
    )
    pipeline = [{"$match": {"city": {"$ne": None}}}, {"$project": {"city": 1}}]
    result = await get_engine("mongodb").execute(
        spec, LOCAL, MongoQuery("orders", pipeline), limit=2, timeout_s=1.5
    )
    assert (
        result.rows == [[1, "Oslo"], [2, "Paris"]] and result.truncated and result.columns == ["_id", "city"]
    )
    (command,) = seen
    assert command["aggregate"] == "orders" and command["$db"] == "shop"
    assert command["pipeline"][:2] == pipeline and command["pipeline"][2] == {"$limit": 3}
    assert command["maxTimeMS"] == 1500 and "cursor" in command


async def test_mongo_reflect_lists_collections_and_samples_them_on_the_wire(mongo_server):
    """mockupdb (MongoDB's own wire-protocol test server; no MongoDB runs here) records the
    commands pymongo sends: listCollections, then per collection a bounded aggregate and a count."""
    seen = []
    documents = {
        "customer": [{"_id": 1, "city": "Oslo", "email": "a@example.com"}, {"_id": 2, "city": None}],
        "invoice": [{"_id": 7, "total": 1.98}],
    }

    def answer(request):
        name = request.command_name
        if name in ("hello", "ismaster", "isMaster", "endSessions"):
            return False
        seen.append(request.doc)
        if name == "listCollections":
            batch = [{"name": n, "type": "collection"} for n in ("invoice", "customer", "system.views")]
            return request.ok(cursor={"id": 0, "ns": "shop.$cmd.listCollections", "firstBatch": batch})
        if name == "aggregate":
            batch = documents[request.doc["aggregate"]]
            return request.ok(cursor={"id": 0, "ns": f"shop.{request.doc['aggregate']}", "firstBatch": batch})
        if name == "count":
            return request.ok(n=len(documents[request.doc["count"]]))
        return request.ok()

    mongo_server.autoresponds(answer)
    spec = ConnectionSpec(engine="mongodb", url=f"mongodb://127.0.0.1:{mongo_server.port}/shop")
    tables = await get_engine("mongodb").reflect(spec, LOCAL)
    assert [(t.name, t.kind, t.primary_key, t.row_estimate) for t in tables] == [
        ("customer", "collection", ["_id"], 2),
        ("invoice", "collection", ["_id"], 1),
    ]
    city = next(c for c in tables[0].columns if c.name == "city")
    assert (city.type, city.nullable) == ("null|str", True)
    assert [c.name for c in tables[0].columns] == ["_id", "city", "email"]
    commands = [(d.get("$db"), next(iter(d))) for d in seen]
    assert commands[0] == ("shop", "listCollections")
    aggregates = [d for d in seen if "aggregate" in d]
    assert [d["aggregate"] for d in aggregates] == ["customer", "invoice"]  # never system.views
    assert all(d["pipeline"] == [{"$limit": 20}] and d["maxTimeMS"] == 10_000 for d in aggregates)
    assert sorted(d["count"] for d in seen if "count" in d) == ["customer", "invoice"]


@pytest.mark.parametrize(
    "stage",
    [
        {"$out": "stolen"},
        {"$merge": {"into": "stolen"}},
        {"$match": {"$where": "sleep(10000) || true"}},
        {"$addFields": {"x": {"$function": {"body": "function() {}", "args": [], "lang": "js"}}}},
        {"$group": {"_id": None, "x": {"$accumulator": {"init": "function() {}", "lang": "js"}}}},
        {"$facet": {"a": [{"$out": "stolen"}]}},
    ],
    ids=["out", "merge", "where", "function", "accumulator", "out-in-facet"],
)
async def test_mongo_writes_and_server_javascript_never_reach_the_server(mongo_server, stage):
    """Through the engine itself (the guard's check is repeated there): mockupdb sees no command."""
    seen = []

    def answer(request):
        if request.command_name not in ("hello", "ismaster", "isMaster", "endSessions"):
            seen.append(request.doc)
        return False

    mongo_server.autoresponds(answer)
    spec = ConnectionSpec(engine="mongodb", url=f"mongodb://127.0.0.1:{mongo_server.port}/shop")
    with pytest.raises(DatabaseQueryFailed) as refused:
        await get_engine("mongodb").execute(
            spec, LOCAL, MongoQuery("orders", [{"$match": {}}, stage]), limit=5, timeout_s=1
        )
    assert refused.value.status_code == 422 and "not allowed" in refused.value.message
    assert seen == []


async def test_mongo_refuses_a_private_host_before_connecting():
    spec = ConnectionSpec(engine="mongodb", url="mongodb://u:hunter2@10.0.0.1:27017,db.example.com/shop")
    with pytest.raises(DatabaseRefused) as refused:
        await get_engine("mongodb").execute(spec, [], MongoQuery("orders", []), limit=1, timeout_s=1)
    assert "hunter2" not in str(refused.value)


def test_mysql_grants_that_write_or_read_files_are_warned_about():
    from knowrithm_ingestion.databases.engines.mysql import grant_warnings

    assert grant_warnings(["GRANT USAGE ON *.* TO `r`@`%`", "GRANT SELECT ON `shop`.* TO `r`@`%`"]) == []
    (warning,) = grant_warnings(
        ["GRANT SELECT, FILE ON *.* TO `f`@`%`", "GRANT UPDATE (name) ON `shop`.`t` TO `f`@`%`"]
    )
    assert "FILE" in warning and "UPDATE" in warning
    assert grant_warnings(["GRANT PROXY ON ''@'%' TO 'root'@'localhost' WITH GRANT OPTION"]) == []


def test_tls_verifies_the_url_host_name_not_the_address_connected_to():
    import ssl

    from knowrithm_ingestion.databases.engines.base import tls_context

    context = tls_context(ConnectionParams(sslmode="verify-full"), "db.example.com")
    tls = context.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="203.0.113.7")
    assert context.check_hostname and tls.server_hostname == "db.example.com"
    assert tls_context(ConnectionParams(sslmode="disable"), "db.example.com") is None
    assert not tls_context(ConnectionParams(sslmode="verify-ca"), "db.example.com").check_hostname


async def test_mongo_probe_reads_the_version_and_warns_for_roles_beyond_read(mongo_server):
    roles = [{"role": "read", "db": "shop"}, {"role": "readWrite", "db": "shop"}]

    def answer(request):
        name = request.command_name.lower()
        if name == "buildinfo":
            return request.ok(version="7.0.2")
        if name == "connectionstatus":
            return request.ok(authInfo={"authenticatedUsers": [], "authenticatedUserRoles": roles})
        return False

    mongo_server.autoresponds(answer)
    spec = ConnectionSpec(engine="mongodb", url=f"mongodb://127.0.0.1:{mongo_server.port}/shop")
    probe = await get_engine("mongodb").probe(spec, LOCAL)
    assert probe.reachable and probe.server_version == "7.0.2"
    (warning,) = probe.warnings
    assert "readWrite@shop" in warning


async def test_mssql_is_registered_and_refuses_before_sending_anything():
    """SQL Server without a server: what its engine decides before (or instead of) connecting. The
    engine against a real SQL Server is in test_database_contract.py (MSSQL_URL)."""
    engine = get_engine("mssql")
    assert engine.name == "mssql" and get_engine("cockroachdb").name == "cockroachdb"
    assert parse_url("cockroachdb", "cockroachdb://root@db.example.com/defaultdb").port == 26257
    closed = "mssql://sa:hunter2@127.0.0.1:1/shop"
    probe = await engine.probe(
        ConnectionSpec(engine="mssql", url=closed, params=ConnectionParams(connect_timeout=2)), LOCAL
    )
    assert (
        not probe.reachable and "Connection refused" in (probe.error or "") and "hunter2" not in probe.error
    )
    with pytest.raises(DatabaseRefused):  # loopback without the allow-list
        await engine.probe(ConnectionSpec(engine="mssql", url=closed), [])
    with pytest.raises(DatabaseRefused) as unverifiable:  # FreeTDS cannot verify a certificate per connection
        await engine.probe(
            ConnectionSpec(engine="mssql", url=closed, params=ConnectionParams(sslmode="verify-full")), LOCAL
        )
    assert "verify-full" in unverifiable.value.message
    with pytest.raises(InvalidConnection) as at_create:  # and a connection cannot be saved with it
        clean_params({"sslmode": "verify-full"}, Engine.MSSQL)
    assert at_create.value.detail == {"field": "connection_params.sslmode"}
    assert clean_params({"sslmode": "require"}, Engine.MSSQL) == {"sslmode": "require"}
    # T-SQL batches run several statements: the engine refuses them itself, before connecting.
    for batch in ("SELECT 1; COMMIT; DROP TABLE album", "DELETE FROM album", "WAITFOR DELAY '00:00:05'"):
        with pytest.raises(DatabaseQueryFailed) as refused:
            await engine.execute(
                ConnectionSpec(engine="mssql", url=closed), LOCAL, batch, limit=1, timeout_s=1
            )
        assert "Not run on SQL Server" in refused.value.message


# --- MongoDB: driver failures become the engines' errors; the URL's tls/ssl is honoured -------------


def _no_scram(request):
    """A server that says ok to everything, the login included, without SCRAM's fields (pymongo's
    own parsing then fails with a KeyError on `payload`)."""
    if request.command_name in ("hello", "ismaster", "isMaster"):
        return False  # mockupdb's auto_ismaster answers
    return request.ok()


async def test_a_mongo_login_the_driver_cannot_follow_is_a_clear_unreachable_without_the_password(mongo_server):
    """mockupdb (no MongoDB here) answers the SCRAM login with a bare `ok`: the driver breaks inside its
    authentication; the engine answers its own error (502 `database_unreachable`), never the driver's
    exception (a 500), and never the password."""
    mongo_server.autoresponds(_no_scram)
    spec = ConnectionSpec(
        engine="mongodb",
        url=f"mongodb://reader:hunter2-Secret@127.0.0.1:{mongo_server.port}/shop",
        params=ConnectionParams(connect_timeout=3),
    )
    engine = get_engine("mongodb")
    probe = await engine.probe(spec, LOCAL)
    assert not probe.reachable and "could not be understood" in (probe.error or "")
    assert "MongoDB server" in probe.error and "hunter2" not in probe.error
    for attempt in (engine.reflect(spec, LOCAL), engine.execute(spec, LOCAL, MongoQuery("orders", []),
                                                               limit=1, timeout_s=2)):
        with pytest.raises(DatabaseUnreachable) as failed:
            await attempt
        assert failed.value.status_code == 502 and "hunter2" not in failed.value.message
        assert failed.value.message.startswith(f"Could not connect to 127.0.0.1:{mongo_server.port}")


async def test_a_mongo_server_too_old_for_the_driver_is_unreachable_not_a_query_error(mongo_server):
    """mockupdb announcing wire version 0: pymongo refuses the server (ConfigurationError)."""
    mongo_server.autoresponds(lambda request: request.ok())  # hello too: no maxWireVersion
    spec = ConnectionSpec(engine="mongodb", url=f"mongodb://127.0.0.1:{mongo_server.port}/shop",
                          params=ConnectionParams(connect_timeout=2))
    engine = get_engine("mongodb")
    probe = await engine.probe(spec, LOCAL)
    assert not probe.reachable and "wire version" in (probe.error or "")
    with pytest.raises(DatabaseUnreachable):
        await engine.execute(spec, LOCAL, MongoQuery("orders", []), limit=1, timeout_s=2)


@pytest.mark.parametrize(
    ("query", "mode"),
    [("tls=true", "verify-full"), ("ssl=true", "verify-full"), ("tls=TRUE&ssl=true", "verify-full"),
     ("tls=false", "disable"), ("authSource=admin", None)],
    ids=["tls", "ssl", "both", "off", "none"],
)
def test_a_mongo_urls_tls_is_read_as_a_mode(query, mode):
    from knowrithm_ingestion.databases.engines.spec import with_url_tls

    parsed = parse_url("mongodb", f"mongodb://u:p@db.example.com/shop?{query}")
    assert parsed.sslmode == mode
    assert with_url_tls(ConnectionParams(), parsed).sslmode == mode
    # connection_params name a mode: they win over the URL's
    assert with_url_tls(ConnectionParams(sslmode="verify-ca"), parsed).sslmode == "verify-ca"


def test_a_mongo_url_tls_that_is_not_true_or_false_or_disagrees_is_refused():
    from knowrithm_ingestion.databases.connections import urls

    for query in ("tls=maybe", "ssl=1", "tls=true&ssl=false"):
        with pytest.raises(InvalidConnection) as refused:
            urls.parse_url(Engine.MONGODB, f"mongodb://u:hunter2@db.example.com/shop?{query}")
        assert refused.value.status_code == 422 and "hunter2" not in refused.value.message


async def test_a_mongo_url_asking_for_tls_gets_tls(mongo_server):
    """`?tls=true` used to be ignored (the connection went in clear). mockupdb speaks no TLS: with the
    URL's tls the handshake fails, and connection_params `sslmode: disable` still wins over the URL."""
    roles = [{"role": "read", "db": "shop"}]

    def answer(request):
        name = request.command_name.lower()
        if name == "buildinfo":
            return request.ok(version="7.0.2")
        if name == "connectionstatus":
            return request.ok(authInfo={"authenticatedUsers": [], "authenticatedUserRoles": roles})
        return False

    mongo_server.autoresponds(answer)
    url = f"mongodb://127.0.0.1:{mongo_server.port}/shop?tls=true"
    engine = get_engine("mongodb")
    probe = await engine.probe(ConnectionSpec("mongodb", url, ConnectionParams(connect_timeout=2)), LOCAL)
    assert not probe.reachable and probe.error and probe.server_version is None  # no TLS: no answer
    plain = await engine.probe(
        ConnectionSpec("mongodb", url, ConnectionParams(connect_timeout=2, sslmode="disable")), LOCAL
    )
    assert plain.reachable and plain.server_version == "7.0.2"
    off = await engine.probe(
        ConnectionSpec("mongodb", url.replace("tls=true", "tls=false"), ConnectionParams(connect_timeout=2)), LOCAL
    )
    assert off.reachable
