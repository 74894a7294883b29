"""Reaching a customer's database safely: the connection spec, the egress guard and one engine per
database kind (see `base` for the interface): PostgreSQL/CockroachDB, MySQL/MariaDB, SQLite,
MongoDB and SQL Server."""

from __future__ import annotations

from .base import (
    ColumnInfo,
    DatabaseEngine,
    ForeignKey,
    MongoQuery,
    Probe,
    QueryResult,
    TableInfo,
)
from .errors import (
    DatabaseQueryFailed,
    DatabaseQueryTimeout,
    DatabaseRefused,
    DatabaseUnreachable,
    InvalidConnectionUrl,
)
from .spec import ConnectionParams, ConnectionSpec, ParsedUrl, masked, parse_url


def get_engine(engine: str) -> DatabaseEngine:
    """The engine for a connection's `engine` value; DatabaseRefused for one without a driver."""
    if engine in ("postgresql", "cockroachdb"):
        from . import postgres

        return postgres.postgres if engine == "postgresql" else postgres.cockroachdb
    if engine == "mysql":
        from .mysql import mysql

        return mysql
    if engine == "sqlite":
        from .sqlite import sqlite

        return sqlite
    if engine == "mongodb":
        from .mongo import mongodb

        return mongodb
    if engine == "mssql":
        from .mssql import mssql

        return mssql
    raise DatabaseRefused(f"Connections to {engine} are not supported yet (no driver is installed)")


__all__ = [
    "ColumnInfo",
    "ConnectionParams",
    "ConnectionSpec",
    "DatabaseEngine",
    "DatabaseQueryFailed",
    "DatabaseQueryTimeout",
    "DatabaseRefused",
    "DatabaseUnreachable",
    "ForeignKey",
    "InvalidConnectionUrl",
    "MongoQuery",
    "ParsedUrl",
    "Probe",
    "QueryResult",
    "TableInfo",
    "get_engine",
    "masked",
    "parse_url",
]
