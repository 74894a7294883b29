"""The knowledge graph of a connection: its tables as nodes, joins as edges.

Edges are the declared foreign keys (kind `foreign_key`, confidence 1.0) and the joins the
column names suggest (kind `inferred`): a column `<name>_id` (or `<name>id`, any case) whose
`<name>` is another table's name (singular or plural, with or without a prefix the tables share
such as `shop_` or `tbl_`) and whose type is in the family of that table's one-column primary
key. A column already in a declared foreign key is never inferred, nor a table joined to itself
(`employee.reports_to` is an edge only when it is declared). The confidence of an inferred edge
is 0.8 for an exact match (`album_id` → `album.album_id`), less for each step it needed
(plural or singular, a prefix, a primary key named otherwise), never under 0.6. Nodes and edges
come out in one order for one structure: nodes by schema and name, edges by source, columns,
target and kind.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from knowrithm_ingestion.databases.semantics.shapes import TableShape, table_key, type_family

DECLARED = "foreign_key"
INFERRED = "inferred"
TABLE_PREFIXES = ("tbl_", "tb_", "t_")


@dataclass(frozen=True, slots=True)
class GraphNode:
    """A table: its node id (`schema.name` or `name`), stored id, name, schema, size."""

    id: str
    table_id: str | None
    name: str
    schema: str
    row_estimate: int | None
    column_count: int
    primary_key: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GraphEdge:
    """A join: `source.columns` reference `target.ref_columns`."""

    source: str
    target: str
    columns: tuple[str, ...]
    ref_columns: tuple[str, ...]
    kind: str  # foreign_key | inferred
    confidence: float

    @property
    def id(self) -> str:
        """A stable id: `source(columns)->target(ref_columns)`."""
        return f"{self.source}({','.join(self.columns)})->{self.target}({','.join(self.ref_columns)})"


@dataclass(frozen=True, slots=True)
class KnowledgeGraph:
    """Nodes and edges, in their deterministic order."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[GraphEdge, ...]


def build_graph(tables: Iterable[TableShape]) -> KnowledgeGraph:
    """The graph of these tables: declared foreign keys, then the joins their names suggest."""
    ordered = sorted(tables, key=lambda t: (t.schema, t.name))
    declared = declared_edges(ordered)
    edges = [*declared, *inferred_edges(ordered, declared)]
    return KnowledgeGraph(
        nodes=tuple(node_of(t) for t in ordered), edges=tuple(sorted(edges, key=_edge_order))
    )


def node_of(table: TableShape) -> GraphNode:
    """The node of one table."""
    return GraphNode(
        id=table.key,
        table_id=table.table_id,
        name=table.name,
        schema=table.schema,
        row_estimate=table.row_estimate,
        column_count=len(table.columns),
        primary_key=table.primary_key,
    )


def _edge_order(edge: GraphEdge) -> tuple[str, tuple[str, ...], str, str, tuple[str, ...]]:
    return (edge.source, edge.columns, edge.target, edge.kind, edge.ref_columns)


def declared_edges(tables: Sequence[TableShape]) -> list[GraphEdge]:
    """One edge per declared foreign key whose referenced table is among `tables` (found by exact
    name in its schema, the source's schema by default, then by name alone, case-insensitively)."""
    by_key = {t.key: t for t in tables}
    by_lower = {t.key.lower(): t for t in tables}
    by_name: dict[str, list[TableShape]] = {}
    for table in tables:
        by_name.setdefault(table.name.lower(), []).append(table)
    edges = []
    for table in tables:
        for fk in table.foreign_keys:
            key = table_key(fk.ref_schema if fk.ref_schema is not None else table.schema, fk.ref_table)
            target = by_key.get(key) or by_lower.get(key.lower())
            if target is None and len(candidates := by_name.get(fk.ref_table.lower(), [])) == 1:
                target = candidates[0]
            if target is None:
                continue
            ref_columns = fk.ref_columns or target.primary_key
            edges.append(GraphEdge(table.key, target.key, fk.columns, tuple(ref_columns), DECLARED, 1.0))
    return sorted(edges, key=_edge_order)


def stem_of(column: str) -> str | None:
    """`<name>` of a column `<name>_id` / `<name>Id` / `<name>id` (lower case), or None."""
    lowered = column.lower()
    if lowered.endswith("_id") and len(lowered) > 3:
        return lowered[:-3].rstrip("_") or None
    if lowered.endswith("id") and len(lowered) > 2 and not lowered.endswith("_id"):
        stem = lowered[:-2]
        if column[-2:] == "Id" or column[-2:] == "ID" or len(stem) >= 3:
            return stem.rstrip("_") or None
    return None


def singular(word: str) -> str:
    """A plain English singular of a lower-case word (`categories` → `category`, `boxes` → `box`)."""
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def _squash(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(" ", "")


def shared_prefixes(tables: Sequence[TableShape]) -> set[str]:
    """Prefixes tables share (`shop_` when at least two tables and half of the ones with an
    underscore start with it), with the usual `tbl_`, `tb_`, `t_`."""
    firsts = Counter(t.name.lower().split("_", 1)[0] + "_" for t in tables if "_" in t.name.strip("_"))
    underscored = sum(firsts.values())
    shared = {p for p, n in firsts.items() if n >= 2 and n * 2 >= underscored}
    return shared | set(TABLE_PREFIXES)


def _name_forms(table: TableShape, prefixes: set[str]) -> list[tuple[str, float]]:
    """The names a column stem may use for `table`, each with what using it costs."""
    lowered = table.name.lower()
    forms = [(lowered, 0.0)]
    forms += [(lowered[len(p) :], 0.1) for p in prefixes if lowered.startswith(p) and len(lowered) > len(p)]
    return forms


def _match_cost(stem: str, name: str) -> float | None:
    """0 when the stem is the name, 0.05 when they match singular to plural, None otherwise."""
    if _squash(stem) == _squash(name):
        return 0.0
    if _squash(singular(stem)) == _squash(singular(name)):
        return 0.05
    return None


def inferred_edges(tables: Sequence[TableShape], declared: Sequence[GraphEdge] = ()) -> list[GraphEdge]:
    """The `<table>_id` joins of `tables` not already declared (see the module docstring)."""
    prefixes = shared_prefixes(tables)
    taken = {(e.source, c.lower()) for e in declared for c in e.columns}
    targets = [t for t in tables if len(t.primary_key) == 1]
    edges = []
    for table in tables:
        for column in table.columns:
            if (table.key, column.name.lower()) in taken:
                continue
            edge = _best_join(table, column.name, column.type, targets, prefixes)
            if edge is not None:
                edges.append(edge)
    return sorted(edges, key=_edge_order)


def _best_join(
    table: TableShape, column: str, column_type: str, targets: Sequence[TableShape], prefixes: set[str]
) -> GraphEdge | None:
    stem = stem_of(column)
    if stem is None:
        return None
    stems = [(stem, 0.0)] + [
        (stem[len(p) :], 0.1) for p in prefixes if stem.startswith(p) and len(stem) > len(p)
    ]
    family = type_family(column_type)
    best: tuple[float, str, GraphEdge] | None = None
    for target in targets:
        if target.key == table.key:
            continue  # no inferred self-joins
        pk = target.column(target.primary_key[0])
        pk_type = pk.type if pk is not None else ""
        if not family or type_family(pk_type) != family:
            continue
        costs = [
            stem_cost + name_cost + match
            for candidate, stem_cost in stems
            for name, name_cost in _name_forms(target, prefixes)
            if (match := _match_cost(candidate, name)) is not None
        ]
        if not costs:
            continue
        cost = min(costs) + (0.0 if target.primary_key[0].lower() == column.lower() else 0.05)
        confidence = round(max(0.6, 0.8 - cost), 2)
        edge = GraphEdge(table.key, target.key, (column,), (target.primary_key[0],), INFERRED, confidence)
        if best is None or (-confidence, target.key) < (-best[0], best[1]):
            best = (confidence, target.key, edge)
    return best[2] if best else None
