"""Vector stores: the port (base.py) and its adapters (pgvector, Weaviate)."""

from knowrithm_ingestion.vectorstore.base import SearchHit, SearchQuery, VectorRecord, VectorStore
from knowrithm_ingestion.vectorstore.factory import create_vector_store

__all__ = ["SearchHit", "SearchQuery", "VectorRecord", "VectorStore", "create_vector_store"]
