"""Which tables a question is shown with: the `TOP_K` whose summary embeddings are nearest to the
question's (cosine; beyond the first `MIN_K`, only those scoring at least `RELATIVE_FLOOR` of the
best, so a question about two tables is not padded with unrelated ones), then the tables they
reference (declared foreign keys, and joins inferred with confidence ≥ `NEIGHBOUR_CONFIDENCE`)
and the link tables joining two chosen ones. A connection of at most `TOP_K` tables, or whose
tables have no summary embedding of the agent's current model, shows them all.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from knowrithm_ingestion.databases.semantics.graph import build_graph
from knowrithm_ingestion.databases.semantics.shapes import TableShape, table_key
from knowrithm_ingestion.models import DatabaseTable

TOP_K = 6
MIN_K = 2  # the nearest tables always shown (when there are more than TOP_K)
RELATIVE_FLOOR = 0.5  # beyond MIN_K, a table scoring under half the best one's cosine is left out
NEIGHBOUR_CONFIDENCE = 0.7


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """The cosine of two vectors (0 when either is zero or their lengths differ)."""
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norm if norm else 0.0


def rank(
    tables: Sequence[DatabaseTable], vector: Sequence[float] | None, model: str | None
) -> list[DatabaseTable]:
    """The `TOP_K` tables nearest to the question's vector (all, when they are few or unembedded)."""
    embedded = [t for t in tables if t.summary_embedding and t.summary_embedding_model == model]
    if len(tables) <= TOP_K or vector is None or not embedded:
        return list(tables)
    scores = {t.id: cosine(vector, t.summary_embedding or []) for t in embedded}
    scored = sorted(embedded, key=lambda t: (-scores[t.id], t.name))[:TOP_K]
    floor = scores[scored[0].id] * RELATIVE_FLOOR
    return [t for i, t in enumerate(scored) if i < MIN_K or scores[t.id] >= floor]


def with_neighbours(chosen: Sequence[DatabaseTable], tables: Sequence[DatabaseTable]) -> list[DatabaseTable]:
    """`chosen`, then the tables they reference and link tables between two of them, in the tables' order."""
    by_key = {table_key(t.schema_name, t.name): t for t in tables}
    graph = build_graph([TableShape.of_row(t) for t in tables])
    keys = {table_key(t.schema_name, t.name) for t in chosen}
    edges = [e for e in graph.edges if e.confidence >= NEIGHBOUR_CONFIDENCE]
    added = {e.target for e in edges if e.source in keys}
    outgoing: dict[str, set[str]] = {}
    for edge in edges:
        outgoing.setdefault(edge.source, set()).add(edge.target)
    links = {source for source, targets in outgoing.items() if len(targets & keys) >= 2}
    wanted = keys | added | links
    return [t for key, t in by_key.items() if key in wanted]
