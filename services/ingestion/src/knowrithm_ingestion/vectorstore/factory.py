"""Build the configured vector store (call `setup()` on it at start-up, `close()` at shutdown)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from knowrithm_ingestion.vectorstore.base import VectorStore

BACKENDS = ("pgvector", "weaviate")


def create_vector_store(
    *,
    backend: str,
    engine: AsyncEngine | None = None,
    weaviate_url: str | None = None,
    weaviate_api_key: str | None = None,
) -> VectorStore:
    """The store for `backend`: pgvector needs the engine, Weaviate its URL."""
    if backend == "pgvector":
        if engine is None:
            raise ValueError("the pgvector store needs the database engine")
        from knowrithm_ingestion.vectorstore.pgvector import PgVectorStore

        return PgVectorStore(engine)
    if backend == "weaviate":
        if not weaviate_url:
            raise ValueError("the Weaviate store needs WEAVIATE_URL")
        from knowrithm_ingestion.vectorstore.weaviate import WeaviateStore

        return WeaviateStore(weaviate_url, api_key=weaviate_api_key)
    raise ValueError(f"unknown vector store {backend!r}: choose one of {', '.join(BACKENDS)}")
