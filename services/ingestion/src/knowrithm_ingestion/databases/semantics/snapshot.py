"""The semantic snapshot of a connection: what each table holds, in words, from its structure
alone (this slice has no language-model step), and the entities and relations overall.

Each table gets a sentence built from its name, its keys, what it references and what
references it, its size and its columns with the role their name or type suggests (key,
reference, name, date, amount, quantity, contact, flag), e.g.

    invoice_line: one row per line of an invoice (invoice_id → invoice), for a track
    (track_id → track); 2,240 rows; columns: invoice_line_id (key), invoice_id (reference),
    track_id (reference), unit_price (amount), quantity (quantity).

A summary stored on the table (`DatabaseTable.summary`, e.g. from an analysis with a language
model) is used instead when there is one. A table whose primary key is made of two or more
references is a link table (`playlist_track` links a playlist to a track); the others are
entities.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from knowrithm_ingestion.databases.semantics.graph import (
    DECLARED,
    GraphEdge,
    KnowledgeGraph,
    build_graph,
    singular,
    stem_of,
)
from knowrithm_ingestion.databases.semantics.shapes import ColumnShape, TableShape, type_family

MAX_COLUMNS_LISTED = 40
ENTITY, LINK = "entity", "link"
STRUCTURE, STORED = "structure", "stored"

_NAME = re.compile(r"(^|_)(name|title|label|first_name|last_name|full_name|username|nickname)$|name$")
_DATE = re.compile(
    r"(^|_)(date|time|at|on|timestamp|day|year|month)$|^(created|updated|deleted|modified)|date"
)
_AMOUNT = re.compile(r"price|amount|total|cost|fee|balance|salary|revenue|tax|discount|subtotal|payment")
_QUANTITY = re.compile(
    r"quantity|qty|count|(^|_)number_of|(^|_)num_|stock|milliseconds|bytes|size|length|duration"
)
_CONTACT = re.compile(
    r"e_?mail|phone|fax|mobile|address|city|state|country|postal_code|postcode|zip|region|website|url"
)
_FLAG = re.compile(r"^(is|has|can|should)_|_flag$|^active$|^enabled$")


@dataclass(frozen=True, slots=True)
class ColumnMeaning:
    """A column with the role its name or type suggests."""

    name: str
    type: str
    role: str  # key | reference | name | date | amount | quantity | contact | flag | other


@dataclass(frozen=True, slots=True)
class TableMeaning:
    """One table in words."""

    key: str
    table_id: str | None
    name: str
    schema: str
    kind: str  # entity | link
    summary: str
    summary_source: str  # structure | stored
    row_estimate: int | None
    primary_key: tuple[str, ...]
    columns: tuple[ColumnMeaning, ...]
    references: tuple[str, ...]  # node ids this table references
    referenced_by: tuple[str, ...]  # node ids referencing it


@dataclass(frozen=True, slots=True)
class RelationMeaning:
    """One edge of the graph in words."""

    source: str
    target: str
    columns: tuple[str, ...]
    ref_columns: tuple[str, ...]
    kind: str
    confidence: float
    description: str


@dataclass(frozen=True, slots=True)
class SemanticSnapshot:
    """The tables in words, the entities and link tables, the relations and an overview."""

    overview: str
    tables: tuple[TableMeaning, ...]
    entities: tuple[str, ...]
    link_tables: tuple[str, ...]
    relations: tuple[RelationMeaning, ...]


def words(name: str) -> str:
    """`media_type` / `MediaType` → `media type`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return " ".join(part for part in re.split(r"[_\-\s.]+", spaced.lower()) if part)


def article(phrase: str) -> str:
    """`an invoice`, `a track`."""
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def column_role(column: ColumnShape, *, primary_key: Sequence[str], references: set[str]) -> str:
    """The role a column's name or type suggests."""
    lowered = column.name.lower()
    family = type_family(column.type)
    if lowered in {c.lower() for c in primary_key} and lowered not in references:
        return "key"
    if lowered in references or (stem_of(column.name) is not None and family in {"int", "uuid", "objectid"}):
        return "reference"
    if family == "bool" or _FLAG.search(lowered):
        return "flag"
    if family == "datetime" or (family in {"", "text"} and _DATE.search(lowered)):
        return "date"
    if _CONTACT.search(lowered):
        return "contact"
    if family in {"decimal", "float", "int", ""} and _AMOUNT.search(lowered):
        return "amount"
    if family == "decimal":
        return "amount"
    if family in {"int", "float", ""} and _QUANTITY.search(lowered):
        return "quantity"
    if _NAME.search(lowered) and family in {"text", ""}:
        return "name"
    return "other"


def _target_phrase(edge: GraphEdge, target: TableShape | None) -> str:
    target_words = words(singular(target.name.lower()) if target else edge.target)
    return article(target_words)


def _reference_phrase(edge: GraphEdge, tables: dict[str, TableShape]) -> str:
    target = tables.get(edge.target)
    noun = _target_phrase(edge, target)
    columns = ", ".join(edge.columns)
    where = f"{columns} → {target.name if target else edge.target}"
    if edge.kind != DECLARED:
        where += ", inferred"
    stem = stem_of(edge.columns[0]) if len(edge.columns) == 1 else None
    target_name = singular(target.name.lower()) if target else edge.target
    if stem is not None and words(singular(stem)) != words(target_name) and not target_name.endswith(stem):
        return f"{noun} as {words(stem)} ({where})"
    return f"{noun} ({where})"


def _join(parts: Sequence[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _rows(count: int | None) -> str | None:
    if count is None:
        return None
    return "1 row" if count == 1 else f"{count:,} rows"


def is_link_table(table: TableShape, outgoing: Sequence[GraphEdge]) -> bool:
    """A table whose primary key has two or more columns, each in an outgoing edge."""
    if len(table.primary_key) < 2:
        return False
    referencing = {c.lower() for e in outgoing for c in e.columns}
    return all(c.lower() in referencing for c in table.primary_key)


def describe_table(
    table: TableShape,
    outgoing: Sequence[GraphEdge],
    incoming: Sequence[GraphEdge],
    tables: dict[str, TableShape],
) -> tuple[str, str, tuple[ColumnMeaning, ...]]:
    """(kind, sentence, columns) of one table, from its structure."""
    references = {c.lower() for e in outgoing for c in e.columns}
    columns = tuple(
        ColumnMeaning(c.name, c.type, column_role(c, primary_key=table.primary_key, references=references))
        for c in table.columns
    )
    lowered = table.name.lower()
    kind = LINK if is_link_table(table, outgoing) else ENTITY
    refs = [_reference_phrase(e, tables) for e in outgoing]
    if kind == LINK:
        pk = {c.lower() for c in table.primary_key}
        linked = [e for e in outgoing if any(c.lower() in pk for c in e.columns)]
        others = [_reference_phrase(e, tables) for e in outgoing if e not in linked]
        nouns = [
            words(singular(tables[e.target].name.lower())) if e.target in tables else e.target for e in linked
        ]
        head = f"one row per {'-'.join(nouns)} pair: links " + " to ".join(
            _reference_phrase(e, tables) for e in linked
        )
        if others:
            head += ", with " + _join(others)
    else:
        head = f"one row per {words(singular(lowered))}"
        parent = next(
            (
                e
                for e in outgoing
                if e.target in tables
                and lowered.startswith(tables[e.target].name.lower() + "_")
                and len(lowered) > len(tables[e.target].name) + 1
            ),
            None,
        )
        if parent is not None:
            rest = lowered[len(tables[parent.target].name) + 1 :]
            head = f"one row per {words(singular(rest))} of {_reference_phrase(parent, tables)}"
            refs = [_reference_phrase(e, tables) for e in outgoing if e is not parent]
        if refs:
            head += ", for " + _join(refs)
    parts = [head]
    if incoming:
        parts.append("referenced by " + ", ".join(f"{e.source}.{'/'.join(e.columns)}" for e in incoming))
    if (rows := _rows(table.row_estimate)) is not None:
        parts.append(rows)
    listed = [f"{c.name} ({c.role})" if c.role != "other" else c.name for c in columns[:MAX_COLUMNS_LISTED]]
    if len(columns) > MAX_COLUMNS_LISTED:
        listed.append(f"and {len(columns) - MAX_COLUMNS_LISTED} more")
    if listed:
        parts.append("columns: " + ", ".join(listed))
    return kind, f"{table.name}: " + "; ".join(parts) + ".", columns


def describe_relation(edge: GraphEdge, tables: dict[str, TableShape]) -> str:
    """`album.artist_id → artist.artist_id: each album refers to an artist (declared)`."""
    source, target = tables.get(edge.source), tables.get(edge.target)
    source_words = words(singular(source.name.lower())) if source else edge.source
    how = (
        "declared foreign key"
        if edge.kind == DECLARED
        else f"inferred from the column name, {edge.confidence:.2f}"
    )
    return (
        f"{edge.source}.{'/'.join(edge.columns)} → {edge.target}.{'/'.join(edge.ref_columns)}: "
        f"each {source_words} refers to {_target_phrase(edge, target)} ({how})"
    )


def build_snapshot(tables: Sequence[TableShape], graph: KnowledgeGraph | None = None) -> SemanticSnapshot:
    """The snapshot of these tables (and their graph, built here when not given)."""
    graph = graph or build_graph(tables)
    by_key = {t.key: t for t in tables}
    meanings = []
    for node in graph.nodes:
        table = by_key[node.id]
        outgoing = [e for e in graph.edges if e.source == node.id]
        incoming = [e for e in graph.edges if e.target == node.id]
        kind, sentence, columns = describe_table(table, outgoing, incoming, by_key)
        stored = (table.summary or "").strip()
        meanings.append(
            TableMeaning(
                key=node.id,
                table_id=table.table_id,
                name=table.name,
                schema=table.schema,
                kind=kind,
                summary=stored or sentence,
                summary_source=STORED if stored else STRUCTURE,
                row_estimate=table.row_estimate,
                primary_key=table.primary_key,
                columns=columns,
                references=tuple(dict.fromkeys(e.target for e in outgoing)),
                referenced_by=tuple(dict.fromkeys(e.source for e in incoming)),
            )
        )
    relations = tuple(
        RelationMeaning(
            e.source, e.target, e.columns, e.ref_columns, e.kind, e.confidence, describe_relation(e, by_key)
        )
        for e in graph.edges
    )
    entities = tuple(m.key for m in meanings if m.kind == ENTITY)
    links = tuple(m.key for m in meanings if m.kind == LINK)
    return SemanticSnapshot(
        overview=overview(meanings, relations),
        tables=tuple(meanings),
        entities=entities,
        link_tables=links,
        relations=relations,
    )


def overview(tables: Sequence[TableMeaning], relations: Sequence[RelationMeaning]) -> str:
    """A paragraph: how many tables, the entities (largest first), the link tables, the relations."""
    entities = sorted((t for t in tables if t.kind == ENTITY), key=lambda t: (-(t.row_estimate or 0), t.key))
    links = [t for t in tables if t.kind == LINK]
    declared = sum(1 for r in relations if r.kind == DECLARED)
    inferred = len(relations) - declared
    parts = [f"{len(tables)} table{'s' if len(tables) != 1 else ''}"]
    if entities:
        parts.append(
            "entities: "
            + ", ".join(f"{t.key} ({rows})" if (rows := _rows(t.row_estimate)) else t.key for t in entities)
        )
    if links:
        parts.append("link tables: " + ", ".join(f"{t.key} ({' ↔ '.join(t.references)})" for t in links))
    if relations:
        parts.append(
            f"{len(relations)} relation{'s' if len(relations) != 1 else ''} "
            f"({declared} declared, {inferred} inferred): "
            + ", ".join(f"{r.source} → {r.target}" for r in relations)
        )
    return "; ".join(parts) + "."


def summaries_of(tables: Sequence[TableShape]) -> dict[str, str]:
    """Each table's summary in use, by node id: the stored one, else the sentence of its structure."""
    return {meaning.key: meaning.summary for meaning in build_snapshot(tables).tables}
