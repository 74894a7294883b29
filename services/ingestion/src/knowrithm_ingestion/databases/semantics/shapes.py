"""The structure of one analysed table, as the semantics functions read it: plain values, no ORM.

`TableShape.of_row` turns a `DatabaseTable` row into one; tests build them directly. Types are
whatever the analysis stored (`INTEGER`, `varchar(120)`, `int`, `objectId` …); `type_family`
folds them into a few families so a column can be compared with a primary key.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from knowrithm_ingestion.models import DatabaseTable


@dataclass(frozen=True, slots=True)
class ColumnShape:
    """One column: name, stored type, nullability, whether it is in the primary key, comment."""

    name: str
    type: str = ""
    nullable: bool = True
    primary_key: bool = False
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ForeignKeyShape:
    """A declared foreign key: these columns reference `ref_columns` of `ref_schema.ref_table`."""

    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    ref_schema: str | None = None


@dataclass(frozen=True, slots=True)
class TableShape:
    """One table (or collection) of a connection as the analysis stored it."""

    name: str
    schema: str = ""
    columns: tuple[ColumnShape, ...] = ()
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKeyShape, ...] = ()
    row_estimate: int | None = None
    summary: str | None = None
    table_id: str | None = None
    comment: str | None = field(default=None)

    @property
    def key(self) -> str:
        """The node id: `schema.name`, or `name` where there is no schema."""
        return table_key(self.schema, self.name)

    def column(self, name: str) -> ColumnShape | None:
        """The column of that name (case-insensitive), if any."""
        wanted = name.lower()
        return next((c for c in self.columns if c.name.lower() == wanted), None)

    @classmethod
    def of_row(cls, row: DatabaseTable) -> TableShape:
        """The shape of a stored `DatabaseTable` row (tolerant of missing keys in its JSON)."""
        return cls.of_mapping(
            {
                "name": row.name,
                "schema": row.schema_name or "",
                "columns": row.columns or [],
                "primary_key": row.primary_key or [],
                "foreign_keys": row.foreign_keys or [],
                "row_estimate": row.row_estimate,
                "summary": row.summary,
                "table_id": str(row.id) if row.id is not None else None,
                "comment": row.comment,
            }
        )

    @classmethod
    def of_mapping(cls, data: Mapping[str, Any]) -> TableShape:
        """A shape from plain data shaped like a `DatabaseTable` row's fields."""
        primary_key = tuple(str(c) for c in data.get("primary_key") or ())
        pk_lower = {c.lower() for c in primary_key}
        columns = tuple(
            ColumnShape(
                name=str(c.get("name", "")),
                type=str(c.get("type") or ""),
                nullable=bool(c.get("nullable", True)),
                primary_key=bool(c.get("primary_key")) or str(c.get("name", "")).lower() in pk_lower,
                comment=c.get("comment"),
            )
            for c in data.get("columns") or ()
            if isinstance(c, Mapping) and c.get("name")
        )
        if not primary_key:
            primary_key = tuple(c.name for c in columns if c.primary_key)
        foreign_keys = tuple(
            ForeignKeyShape(
                columns=tuple(str(c) for c in fk.get("columns") or ()),
                ref_table=str(fk["ref_table"]),
                ref_columns=tuple(str(c) for c in fk.get("ref_columns") or ()),
                ref_schema=fk.get("ref_schema") or None,
            )
            for fk in data.get("foreign_keys") or ()
            if isinstance(fk, Mapping) and fk.get("ref_table") and fk.get("columns")
        )
        return cls(
            name=str(data["name"]),
            schema=str(data.get("schema") or ""),
            columns=columns,
            primary_key=primary_key,
            foreign_keys=foreign_keys,
            row_estimate=data.get("row_estimate"),
            summary=(data.get("summary") or None),
            table_id=data.get("table_id"),
            comment=(data.get("comment") or None),
        )


def table_key(schema: str | None, name: str) -> str:
    """`schema.name`, or `name` alone where there is no schema."""
    return f"{schema}.{name}" if schema else name


_FAMILIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("uuid", re.compile(r"uuid|uniqueidentifier")),
    ("objectid", re.compile(r"objectid")),
    ("bool", re.compile(r"^(bool|boolean|bit)\b")),
    ("int", re.compile(r"int|serial|^integer|^long\b|^number\(\d+\)$|^number$")),
    ("decimal", re.compile(r"decimal|numeric|money|^number\(\d+,\s*[1-9]")),
    ("float", re.compile(r"float|double|real")),
    ("datetime", re.compile(r"timestamp|datetime|^date$|^time\b|^date\b")),
    ("text", re.compile(r"char|text|string|str$|^str\b|clob|citext|varchar|nvarchar")),
    ("binary", re.compile(r"blob|binary|bytea|varbinary")),
    ("json", re.compile(r"json")),
)


def type_family(type_name: str) -> str:
    """The family of a stored type: int, decimal, float, text, uuid, datetime, bool, … or itself."""
    lowered = type_name.strip().lower()
    if not lowered:
        return ""
    for family, pattern in _FAMILIES:
        if pattern.search(lowered):
            return family
    return lowered.split("(")[0].strip()


def shapes_of(rows: Sequence[DatabaseTable]) -> list[TableShape]:
    """The shapes of stored rows, ordered by schema then name."""
    return sorted((TableShape.of_row(r) for r in rows), key=lambda t: (t.schema, t.name))
