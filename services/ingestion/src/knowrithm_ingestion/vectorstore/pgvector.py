"""The pgvector store: `ingestion.vectors` (migration 0002), hybrid search fused with RRF.

One table holds every dimension. HNSW indexes need a fixed dimension, so each dimension gets
a partial expression index, created on its first upsert:
`USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dimension = 384` (halfvec above
2,000 dimensions, no index above 4,000: those are searched exactly). Searches use the same
expression and `dimension = 384` as literals so the planner can match the index. For a
typical agent (up to a few thousand chunks) the planner prefers the (company_id, agent_id,
model) b-tree and an exact sort; for large scopes it takes HNSW, and as the company, agent and
model filters then apply after the index scan, pgvector 0.8's iterative scan keeps it going
until enough rows pass them.

Keyword side: `websearch_to_tsquery` over an OR of the question's words, ranked by `ts_rank`
(see `keyword_query`). An OR query with common words matches much of a very large agent and
ranking all matches then dominates (about 30 ms for a 20,000-chunk agent on 2 cores).

Every statement names the company: no call reads, changes or counts another company's rows.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from pgvector import Vector
from psycopg.adapt import Dumper
from psycopg.pq import Format
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from knowrithm_ingestion.vectorstore.base import COUNTABLE, SearchHit, SearchQuery, VectorRecord, VectorStore
from knowrithm_ingestion.vectorstore.fusion import rrf

TS_CONFIG = "english"  # the generated tsvector column's configuration (migration 0002)
MAX_VECTOR_INDEX_DIM = 2000  # pgvector's HNSW limit for vector; halfvec goes to 4,000
MAX_HALFVEC_INDEX_DIM = 4000
EF_SEARCH = 100
# pgvector's defaults, spelled out: each inserted row costs ~2 ms of graph maintenance on 2 cores;
# ef_construction = 32 halves that for a somewhat lower recall.
HNSW_PARAMS = "m = 16, ef_construction = 64"
MIN_CANDIDATES = 40  # per side (vector, keywords) before fusion
MAX_QUERY_TERMS = 32
COLUMNS = (  # id and company_id first: an upsert updates the others
    "id", "company_id", "agent_id", "document_id", "chunk_index", "page", "content", "model", "dimension",
    "embedding",
)
LIST_HNSW_INDEXES = (
    "SELECT indexname FROM pg_indexes WHERE schemaname = :s AND tablename = 'vectors' "
    "AND indexname LIKE 'ix\\_vectors\\_hnsw\\_%'"
)
IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
TERM = re.compile(r"\w(?:[\w'.-]*\w)?")  # keeps x-200, e-mail, don't, v2.1 whole


@dataclass(frozen=True, slots=True)
class SearchStatement:
    sql: str
    params: dict[str, Any]
    ef_search: int


class PgVectorStore(VectorStore):
    """Vectors in PostgreSQL (pgvector); the engine is the caller's and is not disposed here."""

    name = "pgvector"

    def __init__(self, engine: AsyncEngine, *, schema: str = "ingestion", ef_search: int = EF_SEARCH) -> None:
        if not IDENTIFIER.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        self._engine, self._schema, self._ef_search = engine, schema, ef_search
        # Only the schema is interpolated into SQL, and only after matching IDENTIFIER.
        self._table = f'"{schema}".vectors'
        self._indexed: set[int] = set()  # dimensions whose HNSW index is known to exist
        self._dumper: type[Dumper] | None = None

    async def setup(self) -> None:
        """Check the table exists and learn which per-dimension indexes already do."""
        async with self._engine.connect() as conn:
            if await conn.scalar(text("SELECT to_regclass(:t)"), {"t": self._table}) is None:
                raise RuntimeError(f"{self._table} is missing: run the ingestion migrations first")
            names = await conn.scalars(text(LIST_HNSW_INDEXES), {"s": self._schema})
            self._indexed.update(int(name.rsplit("_", 1)[1]) for name in names)

    async def close(self) -> None:
        return None

    async def upsert(self, company_id: uuid.UUID, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id (a record id held by another company is left alone)."""
        if not records:
            return
        for record in records:
            if record.company_id != company_id:
                raise ValueError("every record must belong to the company it is upserted for")
        for dim in sorted({len(record.vector) for record in records} - self._indexed):
            await self._ensure_index(dim)
        async with self._begin() as conn:
            await conn.execute(text(self._upsert_sql()), [_row(record) for record in records])

    async def delete_ids(self, company_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
        await self._delete("id = ANY(:ids)", company_id, ids=list(ids))

    async def delete_documents(self, company_id: uuid.UUID, document_ids: Sequence[uuid.UUID]) -> None:
        await self._delete("document_id = ANY(:ids)", company_id, ids=list(document_ids))

    async def delete_agent(self, company_id: uuid.UUID, agent_id: uuid.UUID) -> None:
        await self._delete("agent_id = :agent", company_id, agent=agent_id)

    async def delete_company(self, company_id: uuid.UUID) -> None:
        await self._delete("TRUE", company_id)

    async def count_where(self, company_id: uuid.UUID, equal: Mapping[str, uuid.UUID]) -> int:
        sql = f"SELECT count(*) FROM {self._table} WHERE company_id = :company"  # noqa: S608 - see _table
        for column in equal:
            if column not in COUNTABLE:  # the only names interpolated besides the schema
                raise ValueError(f"records are not counted by {column!r}")
            sql += f" AND {column} = :{column}"
        params = {"company": company_id, **equal}
        async with self._engine.connect() as conn:
            return int(await conn.scalar(text(sql), params) or 0)

    async def search(self, company_id: uuid.UUID, query: SearchQuery) -> list[SearchHit]:
        """Hybrid search: top candidates by cosine distance and by full-text rank, fused with RRF."""
        statement = self.search_statement(company_id, query)
        if statement is None:
            return []
        async with self.search_transaction(statement) as conn:
            rows = (await conn.execute(text(statement.sql), statement.params)).all()
        return _fuse(rows, alpha=query.alpha, limit=query.limit)

    def search_statement(self, company_id: uuid.UUID, query: SearchQuery) -> SearchStatement | None:
        """The SQL and parameters of a search (None when nothing can match); also used to EXPLAIN it."""
        dim = len(query.vector)
        if dim == 0 or query.limit <= 0 or _empty(query.agent_ids) or _empty(query.document_ids):
            return None
        candidates = max(query.limit * 4, MIN_CANDIDATES)
        params: dict[str, Any] = {
            "company": company_id,
            "model": query.model,
            "agents": list(query.agent_ids or []),
            "documents": list(query.document_ids or []),
            "vector": Vector(list(query.vector)),
            "terms": keyword_query(query.text),
            "all_terms": keyword_query(query.text, operator="and"),
            "phrase": query.text[:1000],
            "k": candidates,
        }
        ef_search = max(self._ef_search, candidates)
        return SearchStatement(self._search_sql(dim, query), params, ef_search=ef_search)

    @asynccontextmanager
    async def search_transaction(self, statement: SearchStatement) -> AsyncIterator[AsyncConnection]:
        """A transaction with the HNSW settings a search statement needs."""
        async with self._begin() as conn:
            # SET LOCAL via set_config(..., true): this transaction only, one round trip for both.
            await conn.execute(
                text("SELECT set_config('hnsw.ef_search', :ef, true), "
                     "set_config('hnsw.iterative_scan', 'relaxed_order', true)"),
                {"ef": str(statement.ef_search)},
            )
            yield conn

    # -- SQL ------------------------------------------------------------------------------
    def _upsert_sql(self) -> str:
        columns = ", ".join(COLUMNS)
        values = ", ".join(f":{c}" for c in COLUMNS)
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS[2:])
        # The WHERE keeps an id that another company already holds untouched.
        return (
            f"INSERT INTO {self._table} ({columns}) VALUES ({values}) "  # noqa: S608 - see _table
            f"ON CONFLICT (id) DO UPDATE SET {updates} WHERE vectors.company_id = EXCLUDED.company_id"
        )

    def _search_sql(self, dim: int, query: SearchQuery) -> str:
        expression, cast = _index_expression(dim)
        scope = f"company_id = :company AND model = :model AND dimension = {int(dim)}"
        if query.agent_ids is not None:
            scope += " AND agent_id = ANY(:agents)"
        if query.document_ids is not None:
            scope += " AND document_id = ANY(:documents)"
        # MATERIALIZED: each side is computed once with its own LIMIT, and the vector side is
        # re-sorted afterwards because relaxed_order may return slightly out of order. Keywords:
        # passages holding every term come first (a phrase match above those), and only when
        # they are fewer than k are passages sharing some terms ranked too — an OR of common
        # words matches most of a large agent, and ranking all of them is the slow part.
        # (Postgres ranks have no IDF: without these tiers a quoted sentence could lose to
        # shorter texts sharing its common words.)
        return f"""
            WITH vec AS MATERIALIZED (
                SELECT id, {expression} <=> CAST(:vector AS {cast}) AS distance
                FROM {self._table} WHERE {scope}
                ORDER BY distance LIMIT :k
            ), kw_all AS MATERIALIZED (
                SELECT id, ts_rank(content_tsv, q, 1)
                    + CASE WHEN content_tsv @@ p THEN 1 ELSE 0 END + 1 AS rank
                FROM {self._table}, websearch_to_tsquery('{TS_CONFIG}', :all_terms) AS q,
                    phraseto_tsquery('{TS_CONFIG}', :phrase) AS p
                WHERE {scope} AND content_tsv @@ q
                ORDER BY rank DESC LIMIT :k
            ), kw_any AS MATERIALIZED (
                SELECT id, ts_rank(content_tsv, q, 1) AS rank
                FROM {self._table}, websearch_to_tsquery('{TS_CONFIG}', :terms) AS q
                WHERE (SELECT count(*) FROM kw_all) < :k AND {scope} AND content_tsv @@ q
                ORDER BY rank DESC LIMIT :k
            ), kw AS (
                SELECT id, rank FROM kw_all
                UNION ALL
                SELECT id, rank FROM kw_any WHERE id NOT IN (SELECT id FROM kw_all)
            )
            SELECT v.id, v.agent_id, v.document_id, v.chunk_index, v.page, v.content, vec.distance, kw.rank
            FROM (SELECT id FROM vec UNION SELECT id FROM kw) AS found
            JOIN {self._table} AS v ON v.id = found.id AND v.company_id = :company
            LEFT JOIN vec ON vec.id = found.id
            LEFT JOIN kw ON kw.id = found.id
        """  # noqa: S608 - identifiers validated or built here, values bound

    async def _delete(self, predicate: str, company_id: uuid.UUID, **params: Any) -> None:
        sql = f"DELETE FROM {self._table} WHERE company_id = :company AND {predicate}"  # noqa: S608
        async with self._engine.begin() as conn:
            await conn.execute(text(sql), {"company": company_id, **params})

    async def _ensure_index(self, dim: int) -> None:
        if dim > MAX_HALFVEC_INDEX_DIM:
            self._indexed.add(dim)  # no HNSW this wide: exact scans over the company's rows
            return
        name = f"ix_vectors_hnsw_{int(dim)}"
        expression, _ = _index_expression(dim)
        opclass = "vector_cosine_ops" if dim <= MAX_VECTOR_INDEX_DIM else "halfvec_cosine_ops"
        async with self._engine.begin() as conn:
            exists = await conn.scalar(text("SELECT to_regclass(:i)"), {"i": f'"{self._schema}".{name}'})
            if exists is None:
                # Replicas meeting a new dimension at once build the index once; the others wait.
                lock_key = f"{self._table}:{name}"
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": lock_key})
                await conn.execute(text(
                    f"CREATE INDEX IF NOT EXISTS {name} ON {self._table} "
                    f"USING hnsw ({expression} {opclass}) WITH ({HNSW_PARAMS}) WHERE dimension = {int(dim)}"
                ))
        self._indexed.add(dim)

    @asynccontextmanager
    async def _begin(self) -> AsyncIterator[AsyncConnection]:
        """A transaction whose psycopg connection sends `Vector` parameters in binary."""
        async with self._engine.begin() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            if self._dumper is None:
                oid = await conn.scalar(text("SELECT 'vector'::regtype::oid"))
                self._dumper = type("VectorBinaryDumper", (_VectorBinaryDumper,), {"oid": int(oid or 0)})
            # Registered for pgvector.Vector only: other code on this engine is unaffected.
            driver.adapters.register_dumper(Vector, self._dumper)
            yield conn


class _VectorBinaryDumper(Dumper):
    format = Format.BINARY

    def dump(self, obj: Vector) -> bytes:
        return obj.to_binary()


def _empty(ids: Sequence[uuid.UUID] | None) -> bool:
    return ids is not None and len(ids) == 0


def _index_expression(dim: int) -> tuple[str, str]:
    """The indexed expression for a dimension and the type a query vector is cast to."""
    kind = "halfvec" if MAX_VECTOR_INDEX_DIM < dim <= MAX_HALFVEC_INDEX_DIM else "vector"
    return f"(embedding::{kind}({int(dim)}))", f"{kind}({int(dim)})"


def _row(record: VectorRecord) -> dict[str, Any]:
    return {"id": record.id, "company_id": record.company_id, **record.properties(),
            "dimension": len(record.vector), "embedding": Vector(list(record.vector))}


def keyword_query(question: str, *, operator: str = "or") -> str:
    """A websearch_to_tsquery input OR-ing (or AND-ing) the question's words.

    websearch_to_tsquery ANDs words by default, and a question rarely has all its words in one
    passage; OR-ing them and ranking with ts_rank (which rewards distinct matched words more
    than repeats of one) finds passages sharing the most of them. Stop words are dropped by
    the configuration; quoting each term keeps `-` or `or` in the text from acting as operators.
    """
    terms = dict.fromkeys(term.lower() for term in TERM.findall(question))
    joiner = " or " if operator == "or" else " "
    return joiner.join(f'"{term}"' for term in list(terms)[:MAX_QUERY_TERMS])


def _fuse(rows: Sequence[Any], *, alpha: float, limit: int) -> list[SearchHit]:
    by_id = {row.id: row for row in rows}
    by_vector = [r.id for r in sorted((r for r in rows if r.distance is not None), key=lambda r: r.distance)]
    by_keywords = [r.id for r in sorted((r for r in rows if r.rank is not None), key=lambda r: -r.rank)]
    alpha = min(max(alpha, 0.0), 1.0)
    fused = rrf([by_vector, by_keywords], weights=[alpha, 1.0 - alpha])
    return [_hit(by_id[key], score) for key, score in fused[:limit]]


def _hit(row: Any, score: float) -> SearchHit:
    return SearchHit(
        id=row.id,
        agent_id=row.agent_id,
        document_id=row.document_id,
        chunk_index=row.chunk_index,
        page=row.page,
        content=row.content,
        score=score,
    )
