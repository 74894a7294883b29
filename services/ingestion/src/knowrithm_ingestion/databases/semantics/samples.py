"""Sample queries of a connection, generated from its analysed structure and proven by running them.

Candidates, built with sqlglot in the connection's dialect (every identifier quoted), in this
order: a join per declared or high-confidence inferred edge of the knowledge graph (the source's
rows with the referenced row's label, e.g. tracks with their album title), per amount column
(`unit_price`, `total`, …) the top rows and the total per a grouping column or the referenced
entity's label, per date column the rows per month, then per table its first rows ordered by its
key and its row count. Each candidate goes through `queries.service.run_query(…, source="sample",
limit=5)` (the guard, the engine read-only and bounded, the audit); one that is refused, fails,
times out or returns no rows is left out, never offered. At most `max_queries` are offered and
generation stops after `budget_s` seconds. Nothing is cached: each request runs them again.
MongoDB connections get no samples (an empty list with a note).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlglot import exp

from knowrithm_common.events import Actor
from knowrithm_ingestion.databases.engines import DatabaseQueryFailed, DatabaseQueryTimeout
from knowrithm_ingestion.databases.guard import SQLGLOT_DIALECTS, SqlRefused
from knowrithm_ingestion.databases.queries.service import run_query
from knowrithm_ingestion.databases.semantics.graph import DECLARED, GraphEdge, KnowledgeGraph, build_graph
from knowrithm_ingestion.databases.semantics.shapes import ColumnShape, TableShape, type_family
from knowrithm_ingestion.models import DatabaseConnection
from knowrithm_ingestion.pipeline.deps import Deps

MAX_QUERIES = 30
SAMPLE_LIMIT = 5
TIMEOUT_S = 5.0
BUDGET_S = 30.0
MIN_INFERRED_CONFIDENCE = 0.7
MAX_JOINS = 10
MAX_AMOUNTS = 2
MAX_DATES = 2
MONGODB_NOTE = "Sample queries are generated for SQL databases; MongoDB connections have none yet."

_LABEL_NAMES = ("name", "title", "label", "full_name", "display_name", "first_name", "last_name", "email")
_AMOUNT = re.compile(r"(^|_)(amount|total|price|cost|sum|revenue|balance|fee|salary|unit_price)(_|$)", re.I)
_GROUPINGS = ("country", "category", "genre", "type", "kind", "status", "region", "state", "city")


@dataclass(frozen=True, slots=True)
class SampleCandidate:
    """A query that may be offered once it has run."""

    title: str
    description: str
    sql: str
    tables: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SampleQuery:
    """An offered query: it passed the guard and returned rows (its first few)."""

    title: str
    description: str
    sql: str
    tables: tuple[str, ...]
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


# --- the SQL ----------------------------------------------------------------------------------------


def _ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def _table(table: TableShape, alias: str) -> exp.Table:
    return exp.Table(
        this=_ident(table.name),
        db=_ident(table.schema) if table.schema else None,
        alias=exp.TableAlias(this=_ident(alias)),
    )


def _col(alias: str, name: str) -> exp.Column:
    return exp.Column(this=_ident(name), table=_ident(alias))


def _as(expression: exp.Expression, name: str) -> exp.Alias:
    return exp.Alias(this=expression, alias=_ident(name))


def _count() -> exp.Count:
    return exp.Count(this=exp.Star())


def _sql(select: exp.Select, read: str) -> str:
    return select.limit(SAMPLE_LIMIT).sql(dialect=read)


def label_column(table: TableShape) -> ColumnShape | None:
    """The column that names a row: `name`, `title`, … else the first text column out of the key."""
    texts = [c for c in table.columns if type_family(c.type) == "text" and not c.primary_key]
    for wanted in _LABEL_NAMES:
        for column in texts:
            if column.name.lower() == wanted or column.name.lower().endswith("_" + wanted):
                return column
    return texts[0] if texts else None


def _words(name: str) -> str:
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).replace("_", " ").lower()


def _key_columns(table: TableShape) -> list[str]:
    if table.primary_key:
        return list(table.primary_key)
    return [table.columns[0].name] if table.columns else []


def first_rows(table: TableShape, read: str) -> SampleCandidate | None:
    """The first rows of a table ordered by its key."""
    order = _key_columns(table)
    if not order:
        return None
    shown = [c.name for c in table.columns[:8]]
    select = exp.select(*(_col("t", c) for c in shown)).from_(_table(table, "t"))
    select = select.order_by(*(_col("t", c) for c in order))
    return SampleCandidate(
        f"First rows of {table.name}",
        f"The first {_words(table.name)} rows ordered by {', '.join(order)}.",
        _sql(select, read),
        (table.key,),
    )


def row_count(table: TableShape, read: str) -> SampleCandidate:
    """How many rows a table has."""
    select = exp.select(_as(_count(), "row_count")).from_(_table(table, "t"))
    return SampleCandidate(
        f"Rows in {table.name}",
        f"How many {_words(table.name)} rows there are.",
        _sql(select, read),
        (table.key,),
    )


def join_rows(edge: GraphEdge, source: TableShape, target: TableShape, read: str) -> SampleCandidate | None:
    """The source's rows with the label of the row they reference (tracks with their album title)."""
    target_label = label_column(target)
    if target_label is None or source.key == target.key:
        return None
    shown = _key_columns(source)[:2]
    own = label_column(source)
    if own is not None and own.name not in shown:
        shown.append(own.name)
    if not shown:
        return None
    alias = f"{target.name}_{target_label.name}"
    on = exp.and_(
        *(
            exp.EQ(this=_col("s", c), expression=_col("r", rc))
            for c, rc in zip(edge.columns, edge.ref_columns, strict=True)
        )
    )
    select = (
        exp.select(*(_col("s", c) for c in shown), _as(_col("r", target_label.name), alias))
        .from_(_table(source, "s"))
        .join(_table(target, "r"), on=on)
        .order_by(*(_col("s", c) for c in _key_columns(source)))
    )
    how = (
        "declared foreign key"
        if edge.kind == DECLARED
        else f"join inferred from the column name, {edge.confidence:.2f}"
    )
    return SampleCandidate(
        f"{source.name} with their {target.name} {target_label.name}",
        f"Each {_words(source.name)} row with the {_words(target_label.name)} of its {_words(target.name)} "
        f"({source.name}.{'/'.join(edge.columns)} → {target.name}.{'/'.join(edge.ref_columns)}, {how}).",
        _sql(select, read),
        (source.key, target.key),
    )


def grouping_column(table: TableShape) -> ColumnShape | None:
    """A text column to total per: a country, a category, a type, … (in that order of preference)."""
    texts = [c for c in table.columns if type_family(c.type) == "text" and not c.primary_key]
    for wanted in _GROUPINGS:
        for column in texts:
            lowered = column.name.lower()
            if lowered == wanted or lowered.endswith("_" + wanted):
                return column
    return None


def is_amount(column: ColumnShape) -> bool:
    """A numeric column named like an amount (`total`, `unit_price`, …), not a key."""
    family = type_family(column.type)
    return (
        not column.primary_key and family in ("decimal", "float", "int") and bool(_AMOUNT.search(column.name))
    )


def amount_queries(
    table: TableShape,
    column: ColumnShape,
    outgoing: Sequence[GraphEdge],
    tables: dict[str, TableShape],
    read: str,
) -> Iterator[SampleCandidate]:
    """The rows with the largest amount, and the total per a grouping column or referenced entity."""
    shown = _key_columns(table)[:2]
    if column.name not in shown:
        shown.append(column.name)
    top = (
        exp.select(*(_col("t", c) for c in shown))
        .from_(_table(table, "t"))
        .order_by(
            exp.Ordered(this=_col("t", column.name), desc=True), *(_col("t", c) for c in _key_columns(table))
        )
    )
    yield SampleCandidate(
        f"Top {table.name} by {column.name}",
        f"The {_words(table.name)} rows with the largest {_words(column.name)}.",
        _sql(top, read),
        (table.key,),
    )
    total_name = f"total_{column.name}"
    total = exp.Sum(this=_col("t", column.name))
    grouping = grouping_column(table)
    if grouping is not None:
        select = (
            exp.select(_col("t", grouping.name), _as(total, total_name), _as(_count(), "row_count"))
            .from_(_table(table, "t"))
            .group_by(_col("t", grouping.name))
            .order_by(exp.Ordered(this=total.copy(), desc=True), _col("t", grouping.name))
        )
        yield SampleCandidate(
            f"Total {column.name} per {grouping.name}",
            f"The sum of {table.name}.{column.name} per {_words(grouping.name)}, largest first.",
            _sql(select, read),
            (table.key,),
        )
        return
    for edge in outgoing:
        target = tables.get(edge.target)
        label = label_column(target) if target is not None else None
        if target is None or label is None or target.key == table.key:
            continue
        on = exp.and_(
            *(
                exp.EQ(this=_col("t", c), expression=_col("r", rc))
                for c, rc in zip(edge.columns, edge.ref_columns, strict=True)
            )
        )
        select = (
            exp.select(
                _as(_col("r", label.name), f"{target.name}_{label.name}"),
                _as(total, total_name),
                _as(_count(), "row_count"),
            )
            .from_(_table(table, "t"))
            .join(_table(target, "r"), on=on)
            .group_by(_col("r", label.name))
            .order_by(exp.Ordered(this=total.copy(), desc=True), _col("r", label.name))
        )
        yield SampleCandidate(
            f"Total {column.name} per {target.name} {label.name}",
            f"The sum of {table.name}.{column.name} per {_words(target.name)} ({_words(label.name)}), "
            "largest first.",
            _sql(select, read),
            (table.key, target.key),
        )
        return


def per_month(table: TableShape, column: ColumnShape, read: str) -> SampleCandidate:
    """Rows per month of a date column."""
    month = exp.TimeToStr(this=_col("t", column.name), format=exp.Literal.string("%Y-%m"))
    select = (
        exp.select(_as(month, "month"), _as(_count(), "row_count"))
        .from_(_table(table, "t"))
        .where(exp.Not(this=exp.Is(this=_col("t", column.name), expression=exp.Null())))
        .group_by(month.copy())
        .order_by(month.copy())
    )
    return SampleCandidate(
        f"{table.name} per month of {column.name}",
        f"How many {_words(table.name)} rows there are per month of {_words(column.name)}.",
        _sql(select, read),
        (table.key,),
    )


def candidates(
    tables: Sequence[TableShape], dialect: str, graph: KnowledgeGraph | None = None
) -> list[SampleCandidate]:
    """Every candidate for these tables in `dialect` (a key of the guard's SQLGLOT_DIALECTS), in the
    order they are tried (see the module docstring)."""
    read = SQLGLOT_DIALECTS[dialect]
    graph = graph or build_graph(tables)
    by_key = {t.key: t for t in tables}
    ordered = [by_key[n.id] for n in graph.nodes if n.id in by_key]
    joins: list[SampleCandidate] = []
    for edge in graph.edges:
        if edge.kind != DECLARED and edge.confidence < MIN_INFERRED_CONFIDENCE:
            continue
        source, target = by_key.get(edge.source), by_key.get(edge.target)
        if source is not None and target is not None and (c := join_rows(edge, source, target, read)):
            joins.append(c)
    amounts: list[SampleCandidate] = []
    for table in ordered:
        outgoing = [e for e in graph.edges if e.source == table.key]
        for column in table.columns:
            if is_amount(column) and len(amounts) < MAX_AMOUNTS * 2:
                amounts.extend(amount_queries(table, column, outgoing, by_key, read))
    by_size = sorted(ordered, key=lambda t: (-(t.row_estimate or 0), t.key))
    dates = [
        per_month(table, column, read)
        for table in by_size
        for column in table.columns
        if type_family(column.type) == "datetime" and not column.primary_key
    ][:MAX_DATES]
    firsts = [c for t in ordered if (c := first_rows(t, read)) is not None]
    counts = [row_count(t, read) for t in ordered]
    return [*joins[:MAX_JOINS], *amounts, *dates, *firsts, *counts, *joins[MAX_JOINS:]]


# --- running them -----------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A cell as JSON can carry it: numbers, text, ISO dates, bytes as base64."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, decimal.Decimal):
        return float(value) if value == value.to_integral_value() or abs(value) < 10**15 else str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


async def sample_queries(
    session: AsyncSession,
    deps: Deps,
    connection: DatabaseConnection,
    tables: Sequence[TableShape],
    *,
    actor: Actor | None,
    max_queries: int = MAX_QUERIES,
    timeout_s: float = TIMEOUT_S,
    budget_s: float = BUDGET_S,
) -> tuple[list[SampleQuery], str | None]:
    """(the offered queries, a note) for a connection's analysed tables: each candidate run through
    `run_query` (source "sample", limit 5); refused, failing, timed-out or empty ones left out.
    An unreachable database (502) or a refused host raises as `run_query` does."""
    if connection.database_type == "mongodb":
        return [], MONGODB_NOTE
    if connection.database_type not in SQLGLOT_DIALECTS:
        return [], f"No sample queries for {connection.database_type} connections."
    started = time.monotonic()
    offered: list[SampleQuery] = []
    skipped = 0
    for candidate in candidates(tables, connection.database_type):
        if len(offered) >= max_queries or time.monotonic() - started > budget_s:
            break
        try:
            result = await run_query(
                session,
                deps,
                connection,
                candidate.sql,
                actor=actor,
                limit=SAMPLE_LIMIT,
                timeout_s=timeout_s,
                source="sample",
            )
        except (SqlRefused, DatabaseQueryFailed, DatabaseQueryTimeout):
            skipped += 1
            continue
        if not result.rows:
            skipped += 1
            continue
        offered.append(
            SampleQuery(
                title=candidate.title,
                description=candidate.description,
                sql=candidate.sql,
                tables=candidate.tables,
                columns=tuple(result.columns),
                rows=tuple(tuple(jsonable(v) for v in row) for row in result.rows[:SAMPLE_LIMIT]),
            )
        )
    note = f"{skipped} candidate queries were left out (refused, failed or empty)." if skipped else None
    return offered, note
