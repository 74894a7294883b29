"""Embeddings: the port (base.py) and its adapters (offline, Gemini, OpenAI-compatible, local)."""

from knowrithm_ingestion.embeddings.base import Embedder, EmbeddingError, EmbeddingSpec, EmbeddingTask
from knowrithm_ingestion.embeddings.factory import create_embedder

__all__ = ["Embedder", "EmbeddingError", "EmbeddingSpec", "EmbeddingTask", "create_embedder"]
