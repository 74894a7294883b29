"""What an export reads and writes: the query of one table (identifiers quoted by sqlglot, then
checked by the guard like any other SQL) and the Markdown text its rows become.

The text is one heading naming the table and the connection (repeated by the chunker at the top
of every chunk), a paragraph listing the columns, then one paragraph per row:
`customer 1: customer_id: 1; first_name: Luís; city: São José dos Campos; …` (NULLs left out,
whitespace folded so a value never starts a Markdown block, long values cut).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from knowrithm_ingestion.databases.guard import SQLGLOT_DIALECTS

MAX_VALUE_CHARS = 1000
_SPACE = re.compile(r"\s+")


def source_key(connection_id: Any, schema: str | None, table: str) -> str:
    """The stable key of a table's document: `database:<connection id>:<schema>.<table>`."""
    return f"{source_prefix(connection_id)}{schema or ''}.{table}"


def source_prefix(connection_id: Any) -> str:
    """What every exported document of a connection has at the start of its source key."""
    return f"database:{connection_id}:"


def summary_key(connection_id: Any, schema: str | None, table: str) -> str:
    """The stable key of a table's summary document: `database-summary:<connection id>:<schema>.<table>`."""
    return f"{summary_prefix(connection_id)}{schema or ''}.{table}"


def summary_prefix(connection_id: Any) -> str:
    """What every table summary document of a connection has at the start of its source key."""
    return f"database-summary:{connection_id}:"


def qualified(schema: str | None, table: str) -> str:
    return f"{schema}.{table}" if schema else table


def select_all(dialect: str, schema: str | None, table: str, order_by: Sequence[str] = ()) -> str:
    """`SELECT * FROM "schema"."table" ORDER BY "pk"` in the dialect, every identifier quoted."""
    source = exp.Table(
        this=exp.to_identifier(table, quoted=True),
        db=exp.to_identifier(schema, quoted=True) if schema else None,
    )
    query = exp.select(exp.Star()).from_(source)
    if order_by:
        query = query.order_by(*(exp.column(exp.to_identifier(c, quoted=True)) for c in order_by))
    return query.sql(dialect=SQLGLOT_DIALECTS[dialect])


def _value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    text = _SPACE.sub(" ", str(value)).strip()
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1].rstrip() + "…"
    return text


def _plain(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True)
class Rendered:
    """A table's document text (UTF-8 Markdown), how many rows it holds, and whether rows were left out."""

    data: bytes
    rows: int
    truncated: bool


def render_table(
    *,
    connection_name: str,
    schema: str | None,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    column_types: dict[str, str] | None = None,
    primary_key: Sequence[str] = (),
    summary: str | None = None,
    truncated: bool = False,
    max_chars: int | None = None,
) -> Rendered:
    """The Markdown document of one table's rows (at most `max_chars` characters of text)."""
    name = qualified(schema, table)
    types = column_types or {}
    parts = [f"# Table {_plain(name)} (database {_plain(connection_name)})"]
    if summary:
        parts.append(_plain(summary))
    listed = ", ".join(f"{c} ({types[c]})" if types.get(c) else c for c in columns)
    parts.append(_plain(f"The table {name} has the columns: {listed}."))
    size = sum(len(p) + 2 for p in parts)
    key = primary_key[0] if len(primary_key) == 1 and primary_key[0] in columns else None
    key_at = list(columns).index(key) if key else None
    written = 0
    for number, row in enumerate(rows, start=1):
        label = _value(row[key_at]) if key_at is not None else None
        fields = [f"{c}: {v}" for c, raw in zip(columns, row, strict=False) if (v := _value(raw)) is not None]
        line = f"{_plain(table)} {label or number}: " + "; ".join(fields)
        if max_chars is not None and size + len(line) + 2 > max_chars:
            truncated = True
            break
        parts.append(line)
        size += len(line) + 2
        written += 1
    return Rendered(data=("\n\n".join(parts) + "\n").encode("utf-8"), rows=written, truncated=truncated)
