"""Build the embedder an agent's embedding settings ask for."""

from __future__ import annotations

from knowrithm_ingestion.embeddings.base import Embedder, EmbeddingError, EmbeddingSpec
from knowrithm_ingestion.embeddings.retry import RetryPolicy

PROVIDERS = ("offline", "gemini", "openai-compatible", "sentence-transformers")


def create_embedder(
    spec: EmbeddingSpec, *, timeout: float = 30, batch_size: int = 64, max_retries: int = 5
) -> Embedder:
    """The embedder for `spec.provider`; EmbeddingError for an unknown or unusable provider."""
    retry = RetryPolicy(max_retries=max_retries)
    if spec.provider == "offline":
        from knowrithm_ingestion.embeddings.offline import MODEL, OfflineEmbedder

        return OfflineEmbedder(dimension=spec.dimension, model=spec.model or MODEL)
    if spec.provider == "gemini":
        from knowrithm_ingestion.embeddings.gemini import MAX_BATCH, GeminiEmbedder

        return GeminiEmbedder(spec, timeout=timeout, batch_size=min(batch_size, MAX_BATCH), retry=retry)
    if spec.provider == "openai-compatible":
        from knowrithm_ingestion.embeddings.openai_compat import OpenAICompatibleEmbedder

        return OpenAICompatibleEmbedder(spec, timeout=timeout, batch_size=batch_size, retry=retry)
    if spec.provider == "sentence-transformers":
        from knowrithm_ingestion.embeddings.local import LocalEmbedder

        return LocalEmbedder(spec, batch_size=batch_size)
    raise EmbeddingError(
        f"Unknown embedding provider {spec.provider!r}. Choose one of: {', '.join(PROVIDERS)}.",
        code="embedding_misconfigured",
    )
