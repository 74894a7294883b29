"""The vector store port: a search index over chunks, one tenant per company.

The chunks table in Postgres is the source of truth (text and embedding); a store is an index
that can be rebuilt from it. Every call names the company: an adapter never returns or
touches another company's vectors (pgvector: a `company_id` predicate on every statement;
Weaviate: the company is the tenant).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class VectorRecord:
    """One chunk as indexed."""

    id: uuid.UUID  # the chunk id
    company_id: uuid.UUID
    agent_id: uuid.UUID
    document_id: uuid.UUID
    chunk_index: int
    page: int | None
    content: str
    model: str  # embedding model name; searches only compare vectors of one model
    vector: Sequence[float]

    def properties(self) -> dict[str, object]:
        """What an index keeps beside the id, the company and the vector."""
        return {"agent_id": self.agent_id, "document_id": self.document_id, "chunk_index": self.chunk_index,
                "page": self.page, "content": self.content, "model": self.model}


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: uuid.UUID
    agent_id: uuid.UUID
    document_id: uuid.UUID
    chunk_index: int
    page: int | None
    content: str
    score: float  # fused relevance, higher is better (comparable within one result list only)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    text: str
    vector: Sequence[float]
    model: str
    agent_ids: Sequence[uuid.UUID] | None = None  # None: every agent of the company
    document_ids: Sequence[uuid.UUID] | None = None
    limit: int = 10
    alpha: float = 0.5  # weight of the vector side against keywords (Weaviate's hybrid alpha; RRF weight)


# What a count can be narrowed by: record properties that must equal a value.
COUNTABLE = ("document_id", "agent_id")


class VectorStore(Protocol):
    """The port; adapters subclass it for `count` and implement the rest."""

    name: str  # "pgvector" | "weaviate"

    async def setup(self) -> None:
        """Create what the store needs (idempotent); called once at start-up."""
        ...

    async def close(self) -> None: ...

    async def upsert(self, company_id: uuid.UUID, records: Sequence[VectorRecord]) -> None:
        """Insert or replace records by id."""
        ...

    async def delete_ids(self, company_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None: ...

    async def delete_documents(self, company_id: uuid.UUID, document_ids: Sequence[uuid.UUID]) -> None: ...

    async def delete_agent(self, company_id: uuid.UUID, agent_id: uuid.UUID) -> None: ...

    async def delete_company(self, company_id: uuid.UUID) -> None: ...

    async def search(self, company_id: uuid.UUID, query: SearchQuery) -> list[SearchHit]:
        """Hybrid (keyword + vector) search, best first."""
        ...

    async def count(
        self,
        company_id: uuid.UUID,
        *,
        document_id: uuid.UUID | None = None,
        agent_id: uuid.UUID | None = None,
    ) -> int:
        """How many records the company has (optionally of one document or agent)."""
        narrowed = {"document_id": document_id, "agent_id": agent_id}
        return await self.count_where(company_id, {k: v for k, v in narrowed.items() if v is not None})

    async def count_where(self, company_id: uuid.UUID, equal: Mapping[str, uuid.UUID]) -> int:
        """How many records the company has whose properties (of COUNTABLE) equal the values given."""
        ...
