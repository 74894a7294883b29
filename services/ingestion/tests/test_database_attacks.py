"""The attack suite through the HTTP routes, on Chinook in the embedded PostgreSQL (its superuser),
the fixtures' MariaDB (root: the guard and the engine must hold even for an account that can write)
and an uploaded SQLite file: at least 50 statements per dialect (`ATTACKS`), each sent

- as `POST /api/v1/search/database` with the connection's id, and
- as the agent's language model's answer to a question, through `POST
  /api/v1/database-connection/{id}/text-to-sql` with `execute: true` (the model is simulated: a
  local OpenAI-compatible server scripted to answer each question with the attack, `llm_agent`),

must answer 422 `sql_refused` with a message naming what was refused. Afterwards every Chinook
table's checksum (PostgreSQL: md5 of its rows in order; MariaDB: CHECKSUM TABLE; SQLite: the
file's sha256 and its rows), the list of tables and of roles/users (and a few server settings) are
unchanged, no file the statements name exists (`ATTACK_PATH_PREFIX`) and nothing appeared beside
the SQLite file. Every refusal of search/database is audited and published (outcome `refused`).

The connection's active tables are Chinook's but `employee` (stored as an analysis would store
them), so reaching `employee` is reaching a table the company did not give the agent.

MongoDB pipelines (`$out`, `$merge`, `$where`, `$function`, `$accumulator`, …) go through
search/database as the aggregate command (`{"aggregate": …, "pipeline": […]}`) and through
text-to-SQL as the model's `{collection, pipeline}`, on a connection whose server is a closed port
(no MongoDB here): a pipeline that got past the guard would answer 502 `database_unreachable`, not
422 `pipeline_refused`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import sqlite3
import uuid
from pathlib import Path

import psycopg
import pymysql
import pytest
import pytest_asyncio
from sqlalchemy import select

from knowrithm_common.llm.testing import LlmServer
from knowrithm_ingestion.databases.engines import parse_url
from knowrithm_ingestion.models import DatabaseConnection, DatabaseQuery, DatabaseTable, shared
from knowrithm_stack.chinook import CHINOOK_TABLES, load_mysql, load_postgres

from .llm_agent import ScriptedModel, llm_agent, serve_credentials
from .support import admin, create_connection

SEARCH = "/api/v1/search/database"
BASE = "/api/v1/database-connection"
# The tables an analysis gave the agent: every Chinook table but `employee`.
GIVEN = [t for t in CHINOOK_TABLES if t != "employee"]

# (id, SQL, a fragment the refusal's message must hold)
ATTACK_PATH_PREFIX = "/tmp/knowrithm_attack_"
P = ATTACK_PATH_PREFIX

COMMON: list[tuple[str, str, str]] = [
    ("stacked-commit-create", "SELECT 1; COMMIT; CREATE TABLE x(i int)", "one statement"),
    ("stacked-drop", "SELECT 1; DROP TABLE artist", "one statement"),
    ("stacked-after-line-comment", "SELECT name FROM artist -- all\n; DELETE FROM artist", "one statement"),
    ("stacked-update", "SELECT 1;UPDATE customer SET city = 'x'", "one statement"),
    ("stacked-insert", "SELECT * FROM genre; INSERT INTO genre VALUES (99, 'x')", "one statement"),
    ("drop-table", "DROP TABLE artist", "DROP"),
    ("drop-table-if-exists", "DROP TABLE IF EXISTS invoice_line", "DROP"),
    ("delete", "DELETE FROM artist", "DELETE"),
    ("delete-where", "DELETE FROM invoice WHERE invoice_id = 1", "DELETE"),
    ("update", "UPDATE customer SET city = 'x'", "UPDATE"),
    ("insert-values", "INSERT INTO artist (artist_id, name) VALUES (9999, 'x')", "INSERT"),
    ("insert-select", "INSERT INTO genre SELECT * FROM genre", "INSERT"),
    ("create-table", "CREATE TABLE x (i INT)", "CREATE"),
    ("create-table-as", "CREATE TABLE stolen AS SELECT * FROM customer", "CREATE"),
    ("create-view", "CREATE VIEW v AS SELECT * FROM customer", "CREATE"),
    ("create-index", "CREATE INDEX ix_city ON customer (city)", "CREATE"),
    ("alter-table", "ALTER TABLE artist ADD COLUMN evil INT", "ALTER"),
    ("data-modifying-cte", "WITH d AS (DELETE FROM artist RETURNING *) SELECT * FROM d", "DELETE"),
    ("select-into", "SELECT * INTO newt FROM artist", "INTO"),
    ("commit", "COMMIT", "COMMIT"),
    ("rollback", "ROLLBACK", "ROLLBACK"),
    ("begin", "BEGIN", "BEGIN"),
    ("union-into-other-table", "SELECT name FROM artist UNION SELECT last_name FROM employee", "employee"),
    ("join-other-table", "SELECT * FROM customer c JOIN employee e ON e.employee_id = c.support_rep_id",
     "employee"),
    ("subquery-other-table", "SELECT * FROM customer WHERE support_rep_id IN (SELECT employee_id FROM employee)",
     "employee"),
    ("cte-other-table", "WITH e AS (SELECT * FROM employee) SELECT * FROM e", "employee"),
    ("scalar-subquery-other-table", "SELECT (SELECT max(birth_date) FROM employee) FROM artist", "employee"),
    ("unknown-table", "SELECT * FROM secrets", "secrets"),
    ("unknown-function", "SELECT evil_fn(name) FROM artist", "function evil_fn"),
    ("unknown-function-in-where", "SELECT * FROM artist WHERE evil_fn(name) = 1", "function evil_fn"),
    ("schema-qualified-function", "SELECT myschema.lower(name) FROM artist", "schema-qualified function"),
    ("versioned-comment-drop", "/*!50000 DROP TABLE artist*/", "executable comments"),
    ("versioned-comment-in-where", "SELECT name FROM artist WHERE 1 = 1 /*!50000 AND SLEEP(5)*/",
     "executable comments"),
    ("versioned-comment-mariadb", "SELECT /*M!100100 SLEEP(5) */ 1", "executable comments"),
    ("versioned-comment-stacked", "SELECT 1 /*!; DROP TABLE artist */", "executable comments"),
    ("parenthesized-delete", "(DELETE FROM artist)", "DELETE"),
    ("values", "VALUES (1)", "VALUES"),
    ("call", "CALL do_things()", "CALL"),
    ("explain", "EXPLAIN SELECT * FROM artist", "EXPLAIN"),
    ("explain-analyze-delete", "EXPLAIN ANALYZE DELETE FROM artist", "EXPLAIN"),
    ("nested-too-deeply", "SELECT " + "(" * 3000 + "1" + ")" * 3000, "nested too deeply"),
]

POSTGRES: list[tuple[str, str, str]] = [
    ("cte-update", "WITH u AS (UPDATE customer SET city = 'x' RETURNING *) SELECT * FROM u", "UPDATE"),
    ("cte-insert", "WITH i AS (INSERT INTO genre VALUES (99, 'x') RETURNING *) SELECT * FROM i", "INSERT"),
    ("pg-read-file", "SELECT pg_read_file('/etc/passwd')", "function pg_read_file"),
    ("pg-read-binary-file", "SELECT pg_read_binary_file('/etc/passwd')", "function pg_read_binary_file"),
    ("pg-ls-dir", "SELECT pg_ls_dir('.')", "function pg_ls_dir"),
    ("pg-stat-file", "SELECT pg_stat_file('postgresql.conf')", "function pg_stat_file"),
    ("lo-import", "SELECT lo_import('/etc/passwd')", "function lo_import"),
    ("lo-export", f"SELECT lo_export(1, '{P}lo')", "function lo_export"),
    ("set-config", "SELECT set_config('default_transaction_read_only', 'off', false)", "function set_config"),
    ("current-setting", "SELECT current_setting('data_directory')", "function current_setting"),
    ("dblink", "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a INT)", "function dblink"),
    ("dblink-exec", "SELECT dblink_exec('dbname=postgres', 'DROP TABLE artist')", "function dblink_exec"),
    ("pg-sleep", "SELECT pg_sleep(5)", "function pg_sleep"),
    ("pg-sleep-in-where", "SELECT * FROM artist WHERE pg_sleep(1) IS NULL", "function pg_sleep"),
    ("pg-sleep-qualified", "SELECT pg_catalog.pg_sleep(5)", "pg_sleep"),
    ("pg-sleep-in-cast", "SELECT (pg_sleep(1))::text", "function pg_sleep"),
    ("pg-terminate-backend", "SELECT pg_terminate_backend(pid) FROM artist", "function pg_terminate_backend"),
    ("pg-reload-conf", "SELECT pg_reload_conf()", "function pg_reload_conf"),
    ("nextval", "SELECT nextval('artist_artist_id_seq')", "function nextval"),
    ("query-to-xml", "SELECT query_to_xml('DELETE FROM artist RETURNING 1', true, true, '')",
     "function query_to_xml"),
    ("generate-series-bomb", "SELECT * FROM generate_series(1, 1000000000)", "generate_series"),
    ("for-update", "SELECT * FROM artist FOR UPDATE", "locking"),
    ("for-share", "SELECT * FROM artist FOR SHARE", "locking"),
    ("for-no-key-update-nowait", "SELECT * FROM invoice FOR NO KEY UPDATE NOWAIT", "locking"),
    ("copy-to-program", "COPY artist TO PROGRAM 'touch /tmp/knowrithm_attack_program'", "COPY"),
    ("copy-to-file", f"COPY artist TO '{P}copy'", "COPY"),
    ("copy-from", "COPY artist FROM '/etc/passwd'", "COPY"),
    ("copy-query-to-stdout", "COPY (SELECT * FROM customer) TO STDOUT", "COPY"),
    ("set-search-path", "SET search_path = evil", "SET"),
    ("set-role", "SET ROLE postgres", "SET"),
    ("set-transaction-read-write", "SET TRANSACTION READ WRITE", "SET"),
    ("start-transaction-read-write", "START TRANSACTION READ WRITE", "START TRANSACTION"),
    ("lock-table", "LOCK TABLE artist IN ACCESS EXCLUSIVE MODE", "LOCK"),
    ("do-block", "DO $$ BEGIN DELETE FROM artist; END $$", "DO"),
    ("prepare", "PREPARE p AS DELETE FROM artist", "PREPARE"),
    ("execute", "EXECUTE p", "EXECUTE"),
    ("listen", "LISTEN channel", "LISTEN"),
    ("vacuum", "VACUUM artist", "VACUUM"),
    ("truncate", "TRUNCATE artist CASCADE", "TRUNCATE"),
    ("grant", "GRANT ALL ON artist TO PUBLIC", "GRANT"),
    ("revoke", "REVOKE SELECT ON artist FROM PUBLIC", "REVOKE"),
    ("merge", "MERGE INTO artist USING album ON true WHEN MATCHED THEN DELETE", "MERGE"),
    ("pg-authid", "SELECT * FROM pg_catalog.pg_authid", "system catalog pg_catalog.pg_authid"),
    ("pg-shadow", "SELECT usename, passwd FROM pg_shadow", "system catalog pg_shadow"),
    ("pg-stat-activity", "SELECT query FROM pg_stat_activity", "system catalog pg_stat_activity"),
    ("pg-user-cte-trick", "WITH pg_user AS (SELECT * FROM pg_user) SELECT * FROM pg_user", "pg_user"),
    ("information-schema", "SELECT * FROM information_schema.tables", "system catalog information_schema.tables"),
    ("other-database", "SELECT * FROM otherdb.public.artist", "another database"),
    ("other-schema", "SELECT * FROM evil.artist", "evil.artist"),
    ("backslash-stacked", r"SELECT '\'; DROP TABLE artist; --' FROM artist", "one statement"),
]

MYSQL: list[tuple[str, str, str]] = [
    ("into-outfile", f"SELECT * FROM artist INTO OUTFILE '{P}outfile'", "INTO OUTFILE"),
    ("into-outfile-before-from", f"SELECT * INTO OUTFILE '{P}outfile2' FROM artist", "INTO OUTFILE"),
    ("into-outfile-fields", f"SELECT name FROM artist INTO OUTFILE '{P}outfile3' FIELDS TERMINATED BY ','",
     "INTO OUTFILE"),
    ("into-dumpfile", f"SELECT name FROM artist LIMIT 1 INTO DUMPFILE '{P}dumpfile'", "INTO DUMPFILE"),
    ("into-variable", "SELECT name INTO @stolen FROM artist LIMIT 1", "INTO"),
    ("load-file", "SELECT LOAD_FILE('/etc/passwd')", "function load_file"),
    ("load-file-in-union", "SELECT name FROM artist UNION SELECT LOAD_FILE('/etc/passwd')", "function load_file"),
    ("sleep", "SELECT SLEEP(5)", "function sleep"),
    ("sleep-in-where", "SELECT * FROM artist WHERE SLEEP(1) = 0", "function sleep"),
    ("benchmark", "SELECT BENCHMARK(100000000, MD5('a'))", "function benchmark"),
    ("get-lock", "SELECT GET_LOCK('x', 10)", "function get_lock"),
    ("sys-exec", "SELECT sys_exec('id')", "function sys_exec"),
    ("user-function", "SELECT USER()", "user"),
    ("lock-in-share-mode", "SELECT * FROM artist LOCK IN SHARE MODE", "locking"),
    ("for-update", "SELECT * FROM artist FOR UPDATE", "locking"),
    ("load-data", "LOAD DATA INFILE '/etc/passwd' INTO TABLE artist", "LOAD DATA"),
    ("load-data-local", "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE artist", "LOAD DATA"),
    ("load-xml", "LOAD XML INFILE '/etc/passwd' INTO TABLE artist", "LOAD"),
    ("set-user-variable", "SET @a = 1", "SET"),
    ("set-global", "SET GLOBAL general_log = 'ON'", "SET"),
    ("set-session-read-write", "SET SESSION transaction_read_only = 0", "SET"),
    ("assign-in-select", "SELECT @a := name FROM artist", "assignment"),
    ("server-variable", "SELECT @@secure_file_priv", "server variables"),
    ("user-variable", "SELECT @stolen", "variables"),
    ("handler", "HANDLER artist OPEN", "HANDLER"),
    ("do-sleep", "DO SLEEP(5)", "DO"),
    ("lock-tables", "LOCK TABLES artist WRITE", "LOCK"),
    ("unlock-tables", "UNLOCK TABLES", "UNLOCK"),
    ("use", "USE mysql", "USE"),
    ("show-grants", "SHOW GRANTS", "SHOW"),
    ("kill", "KILL 1", "KILL"),
    ("flush", "FLUSH PRIVILEGES", "FLUSH"),
    ("grant", "GRANT ALL ON *.* TO 'evil'@'%'", "GRANT"),
    ("create-function-soname", "CREATE FUNCTION sys_exec RETURNS INT SONAME 'lib_mysqludf_sys.so'", "CREATE"),
    ("install-plugin", "INSTALL PLUGIN evil SONAME 'evil.so'", "INSTALL"),
    ("mysql-user", "SELECT user, authentication_string FROM mysql.user", "system catalog mysql.user"),
    ("performance-schema", "SELECT * FROM performance_schema.threads", "system catalog performance_schema.threads"),
    ("information-schema", "SELECT * FROM information_schema.user_privileges", "system catalog"),
    ("information-schema-tables", "SELECT table_name FROM information_schema.tables", "system catalog"),
    ("sys-schema", "SELECT * FROM sys.processlist", "system catalog sys.processlist"),
    ("other-database", "SELECT * FROM otherdb.artist", "otherdb.artist"),
    ("other-database-quoted", "SELECT * FROM `otherdb`.`artist`", "otherdb.artist"),
    ("other-database-join", "SELECT * FROM artist a JOIN otherdb.album b ON b.artist_id = a.artist_id",
     "otherdb.album"),
    ("truncate", "TRUNCATE TABLE invoice_line", "TRUNCATE"),
    ("replace-into", "REPLACE INTO artist VALUES (1, 'x')", "REPLACE"),
    ("start-transaction", "START TRANSACTION", "transaction"),
    ("insert-on-duplicate", "INSERT INTO artist VALUES (1, 'x') ON DUPLICATE KEY UPDATE name = 'x'", "INSERT"),
    ("multi-table-delete", "DELETE a FROM artist a JOIN album b ON b.artist_id = a.artist_id", "DELETE"),
    ("hash-comment-stacked", "SELECT 1 # harmless\n; DROP TABLE artist", "one statement"),
]

SQLITE: list[tuple[str, str, str]] = [
    ("attach", f"ATTACH DATABASE '{P}x.db' AS x", "ATTACH"),
    ("attach-short", f"ATTACH '{P}y.db' AS y", "ATTACH"),
    ("attach-uri", f"ATTACH DATABASE 'file:{P}z.db?mode=rwc' AS z", "ATTACH"),
    ("detach", "DETACH x", "DETACH"),
    ("pragma-writable-schema", "PRAGMA writable_schema=1", "PRAGMA"),
    ("pragma-query-only-off", "PRAGMA query_only = 0", "PRAGMA"),
    ("pragma-table-info", "PRAGMA table_info(artist)", "PRAGMA"),
    ("pragma-journal-mode", "PRAGMA journal_mode = DELETE", "PRAGMA"),
    ("pragma-function", "SELECT * FROM pragma_table_info('artist')", "function pragma_table_info"),
    ("load-extension", "SELECT load_extension('/tmp/evil.so')", "function load_extension"),
    ("load-extension-entry", "SELECT load_extension('/tmp/evil.so', 'init')", "function load_extension"),
    ("readfile", "SELECT readfile('/etc/passwd')", "function readfile"),
    ("writefile", f"SELECT writefile('{P}w', 'data')", "function writefile"),
    ("fts3-tokenizer", "SELECT fts3_tokenizer('simple')", "function fts3_tokenizer"),
    ("zeroblob-bomb", "SELECT zeroblob(1000000000)", "function zeroblob"),
    ("randomblob-bomb", "SELECT randomblob(1000000000)", "function randomblob"),
    ("sqlite-master", "SELECT * FROM sqlite_master", "system catalog sqlite_master"),
    ("sqlite-schema", "SELECT sql FROM sqlite_schema", "system catalog sqlite_schema"),
    ("sqlite-temp-master", "SELECT * FROM sqlite_temp_master", "system catalog sqlite_temp_master"),
    ("main-sqlite-master", "SELECT * FROM main.sqlite_master", "system catalog main.sqlite_master"),
    ("vacuum-into", f"VACUUM INTO '{P}copy.db'", "VACUUM"),
    ("vacuum", "VACUUM", "VACUUM"),
    ("reindex", "REINDEX", "REINDEX"),
    ("begin-immediate", "BEGIN IMMEDIATE", "BEGIN"),
    ("begin-exclusive", "BEGIN EXCLUSIVE", "BEGIN"),
    ("savepoint", "SAVEPOINT s", "SAVEPOINT"),
    ("release", "RELEASE s", "RELEASE"),
    ("insert-or-replace", "INSERT OR REPLACE INTO artist VALUES (1, 'x')", "INSERT"),
    ("replace-into", "REPLACE INTO artist VALUES (1, 'x')", "REPLACE"),
    ("upsert", "INSERT INTO artist VALUES (1, 'x') ON CONFLICT DO NOTHING", "INSERT"),
    ("create-temp-trigger", "CREATE TEMP TRIGGER t AFTER INSERT ON artist BEGIN SELECT 1; END", "one statement"),
    ("create-temp-table", "CREATE TEMP TABLE t AS SELECT * FROM customer", "CREATE"),
    ("analyze", "ANALYZE", "ANALYZE"),
    ("sleep", "SELECT sleep(5)", "function sleep"),
    ("other-database", "SELECT * FROM evil.main.artist", "another database"),
    ("temp-schema", "SELECT * FROM temp.artist", "temp.artist"),
    ("attached-schema", "SELECT * FROM x.artist", "x.artist"),
    ("dbstat", "SELECT * FROM dbstat", "dbstat"),
    ("grant", "GRANT SELECT ON artist TO evil", "GRANT"),
    ("truncate", "TRUNCATE TABLE invoice_line", "TRUNCATE"),
    ("for-update", "SELECT * FROM artist FOR UPDATE", "locking"),
    ("set", "SET x = 1", "SET"),
    ("merge", "MERGE INTO artist USING album ON 1 = 1 WHEN MATCHED THEN DELETE", "MERGE"),
]

ATTACKS: dict[str, list[tuple[str, str, str]]] = {
    "postgresql": COMMON + POSTGRES,
    "mysql": COMMON + MYSQL,
    "sqlite": COMMON + SQLITE,
}

# MongoDB pipelines: (id, collection, pipeline, a fragment of the refusal).
PIPELINES: list[tuple[str, str, list[dict], str]] = [
    ("out", "customers", [{"$match": {}}, {"$out": "stolen"}], "$out"),
    ("out-other-db", "customers", [{"$out": {"db": "admin", "coll": "x"}}], "$out"),
    ("merge", "customers", [{"$merge": {"into": "customers"}}], "$merge"),
    ("where", "customers", [{"$match": {"$where": "sleep(5000) || true"}}], "$where"),
    ("function", "customers",
     [{"$addFields": {"x": {"$function": {"body": "function() { return 1 }", "args": [], "lang": "js"}}}}],
     "$function"),
    ("accumulator", "customers",
     [{"$group": {"_id": None, "x": {"$accumulator": {"init": "function() {}", "accumulate": "", "accumulateArgs": [],
                                                      "merge": "", "lang": "js"}}}}], "$accumulator"),
    ("where-nested-in-or", "customers", [{"$match": {"$or": [{"$where": "true"}, {"a": 1}]}}], "$where"),
    ("function-in-expr", "customers",
     [{"$match": {"$expr": {"$function": {"body": "function() { return true }", "args": [], "lang": "js"}}}}],
     "$function"),
    ("out-in-facet", "customers", [{"$facet": {"a": [{"$out": "stolen"}]}}], "$out"),
    ("current-op", "customers", [{"$currentOp": {}}], "$currentOp"),
    ("lookup-other-collection", "customers", [{"$lookup": {"from": "secrets", "localField": "a",
                                                          "foreignField": "b", "as": "s"}}], "secrets"),
    ("system-collection", "system.users", [{"$match": {}}], "system.users"),
]


def test_the_suite_has_at_least_fifty_statements_per_dialect_and_unique_ids() -> None:
    for attacks in ATTACKS.values():
        ids = [name for name, _, _ in attacks]
        assert len(attacks) >= 50 and len(set(ids)) == len(ids)


# --- the databases, their checksums through their own drivers (not through what is tested) -----


@pytest.fixture(scope="module")
def pg_chinook(stack) -> str:
    url = stack.create_database("attacks_chinook")
    load_postgres(url)
    return url


@pytest.fixture(scope="module")
def maria_chinook(mariadb) -> str:
    """Chinook in MariaDB, reached as root."""
    url = mariadb.create_database("attacks_chinook")
    load_mysql(url)
    return url


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
        sums["<settings>"] = conn.execute(
            "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings"
            " WHERE source NOT IN ('default', 'session', 'client')"
        ).fetchone()[0]
    return sums


def mysql_checksum(url: str) -> dict[str, str]:
    p = parse_url("mysql", url)
    conn = pymysql.connect(host=p.host, port=p.port, user=p.user, password=p.password or "", database=p.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute("CHECKSUM TABLE " + ", ".join(CHINOOK_TABLES) + " EXTENDED")
            sums = {name.split(".")[-1]: str(value) for name, value in cursor.fetchall()}
            cursor.execute(
                "SELECT GROUP_CONCAT(table_schema, '.', table_name ORDER BY 1) FROM information_schema.tables"
                " WHERE table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')"
            )
            sums["<tables>"] = cursor.fetchone()[0]
            cursor.execute("SELECT GROUP_CONCAT(user, '@', host ORDER BY 1) FROM mysql.user")
            sums["<users>"] = cursor.fetchone()[0]
            cursor.execute("SELECT @@GLOBAL.general_log, @@GLOBAL.read_only")
            sums["<globals>"] = repr(cursor.fetchone())
    finally:
        conn.close()
    return sums


def sqlite_checksum(path: Path) -> dict[str, str]:
    sums = {"<file>": hashlib.sha256(path.read_bytes()).hexdigest()}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        for table in CHINOOK_TABLES:
            sums[table] = hashlib.sha256(repr(conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall())
                                         .encode()).hexdigest()
    finally:
        conn.close()
    return sums


def attack_files() -> list[str]:
    """Files the attack statements name (they may not exist, before or after)."""
    return sorted(glob.glob(ATTACK_PATH_PREFIX + "*"))


def listing(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))


# --- a company whose agent answers with a (simulated) language model --------------------------


@pytest.fixture(scope="module")
def model() -> ScriptedModel:
    return ScriptedModel()


@pytest.fixture(scope="module")
def llm(model):
    with LlmServer() as server:
        server.respond = model.respond
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def credentials(client):
    async for _ in serve_credentials(client.app.state.nats):
        yield


@pytest.fixture
async def company(client, llm, credentials):
    company_id, agent_id = await llm_agent(client.app, llm)
    return company_id, agent_id, admin(company_id)


async def stored(client, connection_id: str) -> DatabaseConnection:
    async with client.app.state.db.sessions() as session:
        stmt = select(DatabaseConnection).where(DatabaseConnection.id == uuid.UUID(connection_id))
        return (await session.scalars(stmt)).one()


async def given_tables(client, connection_id: str, schema: str | None, names=GIVEN) -> None:
    """The tables an analysis of Chinook stores, but `employee` (the company left it out)."""
    connection = await stored(client, connection_id)
    async with client.app.state.db.sessions() as session:
        for name in names:
            session.add(DatabaseTable(company_id=connection.company_id, agent_id=connection.agent_id,
                                      connection_id=connection.id, name=name, schema_name=schema,
                                      columns=[], primary_key=[], foreign_keys=[], sample_rows=[]))
        await session.commit()


async def refusals(client, connection_id: str) -> tuple[list[str], int]:
    """(outcomes of the connection's audit rows, its query events that say `refused`)."""
    async with client.app.state.db.sessions() as session:
        stmt = select(DatabaseQuery.outcome).where(DatabaseQuery.connection_id == uuid.UUID(connection_id))
        outcomes = list((await session.scalars(stmt)).all())
        table = shared.outbox
        rows = await session.execute(select(table.c.envelope).where(
            table.c.subject == "events.ingestion.database.query.executed.v1"))
        events = [e for e in rows.scalars() if e["data"]["database_connection_id"] == connection_id
                  and e["data"]["outcome"] == "refused"]
    return outcomes, len(events)


def unclear(name: str, r, fragment: str, code: str = "sql_refused") -> str | None:
    """Why an answer is not a clear refusal naming `fragment`, or None."""
    body = r.json()
    if r.status_code != 422 or body.get("error") != code:
        return f"{name}: {r.status_code} {r.text[:200]}"
    if fragment not in body["message"]:
        return f"{name}: unclear message {body['message']!r} (expected {fragment!r})"
    return None


async def search_attacks(call, principal, connection_id: str, dialect: str) -> list[str]:
    """Each attack through search/database on the connection; what was not a clear 422 sql_refused."""
    wrong = []
    for name, sql, fragment in ATTACKS[dialect]:
        r = await call("POST", SEARCH, principal, json={"query": sql, "connection_id": connection_id})
        if (problem := unclear(f"search {name}", r, fragment)) is not None:
            wrong.append(problem)
        elif not r.json()["message"].startswith("This SQL is not allowed: "):
            wrong.append(f"search {name}: {r.json()['message']!r}")
    return wrong


async def model_attacks(call, principal, model: ScriptedModel, connection_id: str, dialect: str) -> list[str]:
    """Each attack as the model's answer to a question, through text-to-SQL with execute; what was
    not a clear 422 sql_refused."""
    wrong = []
    for name, sql, fragment in ATTACKS[dialect]:
        question = f"Attack {dialect} {name}: what does it give?"
        model.answers[question] = sql
        r = await call("POST", f"{BASE}/{connection_id}/text-to-sql", principal,
                       json={"question": question, "execute": True})
        if (problem := unclear(f"text-to-sql {name}", r, fragment)) is not None:
            wrong.append(problem)
    return wrong


async def attack(client, call, company, model, connection_id: str, dialect: str) -> None:
    """Every attack of `dialect` through both routes: each a clear 422; every search refusal audited
    and published (the model's SQL is refused by text-to-SQL's own guard call before any run)."""
    principal = company[2]
    assert await search_attacks(call, principal, connection_id, dialect) == []
    outcomes, events = await refusals(client, connection_id)
    assert outcomes == ["refused"] * len(ATTACKS[dialect]) and events == len(outcomes)
    assert await model_attacks(call, principal, model, connection_id, dialect) == []


# --- the three engines --------------------------------------------------------------------------


async def test_postgres_attacks_are_refused_and_nothing_changes(client, call, company, model, pg_chinook):
    _, agent_id, principal = company
    connection_id = await create_connection(call, principal, agent_id, database_type="postgresql", url=pg_chinook)
    await given_tables(client, connection_id, "public")
    before, files = pg_checksum(pg_chinook), attack_files()
    await attack(client, call, company, model, connection_id, "postgresql")
    assert pg_checksum(pg_chinook) == before
    assert attack_files() == files == []


async def test_mariadb_attacks_are_refused_and_nothing_changes(client, call, company, model, maria_chinook):
    _, agent_id, principal = company
    connection_id = await create_connection(call, principal, agent_id, database_type="mysql", url=maria_chinook)
    await given_tables(client, connection_id, parse_url("mysql", maria_chinook).database)
    before, files = mysql_checksum(maria_chinook), attack_files()
    await attack(client, call, company, model, connection_id, "mysql")
    assert mysql_checksum(maria_chinook) == before
    assert attack_files() == files == []


async def test_sqlite_attacks_are_refused_the_file_unchanged_and_no_file_created(
    client, call, company, model, chinook_sqlite
):
    _, agent_id, principal = company
    connection_id = await create_connection(call, principal, agent_id, database_type="sqlite", file=chinook_sqlite)
    await given_tables(client, connection_id, None)
    blob = client.app.state.deps.blobs.root / str((await stored(client, connection_id)).sqlite_blob_key)
    before, files, beside = sqlite_checksum(blob), attack_files(), listing(blob.parent.parent)
    await attack(client, call, company, model, connection_id, "sqlite")
    assert sqlite_checksum(blob) == before
    assert attack_files() == files == []
    assert listing(blob.parent.parent) == beside


async def test_the_safe_statement_still_runs_on_each_engine(
    client, call, company, model, pg_chinook, maria_chinook, chinook_sqlite
):
    """The refusals above are the guard's, not a broken path: the same routes answer a plain read."""
    _, agent_id, principal = company
    model.answers["How many artists are there?"] = "SELECT count(*) AS n FROM artist"
    for kind, source in (("postgresql", {"url": pg_chinook}), ("mysql", {"url": maria_chinook}),
                         ("sqlite", {"file": chinook_sqlite})):
        connection_id = await create_connection(call, principal, agent_id, database_type=kind, **source)
        schema = {"postgresql": "public", "mysql": parse_url("mysql", maria_chinook).database}.get(kind)
        await given_tables(client, connection_id, schema)
        r = await call("POST", SEARCH, principal, json={"query": "SELECT count(*) AS n FROM artist",
                                                        "connection_id": connection_id})
        assert r.status_code == 200 and list(r.json()["results"].values()) == [[{"n": 275}]], (kind, r.text)
        r = await call("POST", f"{BASE}/{connection_id}/text-to-sql", principal,
                       json={"question": "How many artists are there?", "execute": True})
        assert r.status_code == 200 and r.json()["rows"] == [{"n": 275}], (kind, r.text)


async def test_before_any_analysis_mysql_reads_only_the_connections_own_database(
    client, call, company, maria_chinook
):
    """No tables stored yet: any table of the URL's database may be read, another database's never."""
    _, agent_id, principal = company
    connection_id = await create_connection(call, principal, agent_id, database_type="mysql", url=maria_chinook)
    own = parse_url("mysql", maria_chinook).database
    r = await call("POST", SEARCH, principal,
                   json={"query": f"SELECT count(*) AS n FROM {own}.artist", "connection_id": connection_id})
    assert r.status_code == 200 and list(r.json()["results"].values()) == [[{"n": 275}]]
    for sql in ("SELECT * FROM otherdb.artist", "SELECT * FROM mysql.user", "SELECT 1 FROM artist a JOIN `x`.album b"):
        r = await call("POST", SEARCH, principal, json={"query": sql, "connection_id": connection_id})
        assert r.status_code == 422 and r.json()["error"] == "sql_refused", (sql, r.text)


# --- MongoDB pipelines ------------------------------------------------------------------------


async def test_mongodb_attack_pipelines_are_refused_before_anything_is_sent(client, call, company, model):
    """Sent as the aggregate command through search/database, and as the model's answer through
    text-to-SQL; the server is a closed port, so a pipeline past the guard would answer 502
    `database_unreachable`."""
    _, agent_id, principal = company
    r = await call("POST", BASE, principal, json={
        "name": "shop", "database_type": "mongodb", "url": "mongodb://u:pw@127.0.0.1:1/shop",
        "agent_id": str(agent_id), "connection_params": {"connect_timeout": 1}})
    assert r.status_code == 201, r.text
    connection_id = r.json()["connection"]["id"]
    await given_tables(client, connection_id, None, ["customers", "orders"])
    wrong = []
    for name, collection, pipeline, fragment in PIPELINES:
        command = json.dumps({"aggregate": collection, "pipeline": pipeline})
        r = await call("POST", SEARCH, principal, json={"query": command, "connection_id": connection_id})
        if (problem := unclear(name, r, fragment, code="pipeline_refused")) is not None:
            wrong.append(problem)
    assert wrong == []
    outcomes, events = await refusals(client, connection_id)
    assert outcomes == ["refused"] * len(PIPELINES) and events == len(PIPELINES)
    # the same pipelines as the model's answers, through text-to-SQL
    for name, collection, pipeline, fragment in PIPELINES:
        question = f"Attack mongodb {name}: what does it give?"
        model.answers[question] = json.dumps({"collection": collection, "pipeline": pipeline})
        r = await call("POST", f"{BASE}/{connection_id}/text-to-sql", principal,
                       json={"question": question, "execute": True})
        if (problem := unclear(f"text-to-sql {name}", r, fragment, code="pipeline_refused")) is not None:
            wrong.append(problem)
    assert wrong == []
