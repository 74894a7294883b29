"""A sentence-transformers model on this machine (the optional `local-embeddings` extra)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from knowrithm_ingestion.embeddings.base import EmbeddingError, EmbeddingSpec, EmbeddingTask, ModelEmbedder
from knowrithm_ingestion.embeddings.retry import check_vectors

PROVIDER = "sentence-transformers"


def _import_sentence_transformers() -> Any:
    try:
        import sentence_transformers
    except ImportError as exc:
        raise EmbeddingError(
            "Local embeddings need the sentence-transformers package, which is not installed. "
            "Install the ingestion service with its `local-embeddings` extra, or choose another "
            "embedding provider in the agent's settings.",
            code="embedding_unavailable",
        ) from exc
    return sentence_transformers


class LocalEmbedder(ModelEmbedder):
    """Runs a sentence-transformers model in a worker thread (loaded on first use).

    `spec.model` is a model name or directory; `spec.params["model_path"]` overrides where it
    is loaded from (an offline copy), while the vectors keep the name `spec.model`.
    """

    def __init__(self, spec: EmbeddingSpec, *, batch_size: int = 64) -> None:
        super().__init__(model=spec.model, dimension=spec.dimension)
        self._module = _import_sentence_transformers()
        self._source = str(spec.params.get("model_path") or spec.model)
        self._batch_size = max(1, batch_size)
        self._loaded: Any = None
        self._lock = asyncio.Lock()

    async def embed(self, texts: Sequence[str], *, task: EmbeddingTask) -> list[list[float]]:
        """One normalised vector per text, computed off the event loop."""
        if not texts:
            return []
        model = await self._loaded_model()
        array = await asyncio.to_thread(
            model.encode, list(texts), batch_size=self._batch_size, normalize_embeddings=True
        )
        vectors = array.tolist()
        return check_vectors(vectors, expected=len(texts), dimension=self._dimension, provider=PROVIDER)

    async def _loaded_model(self) -> Any:
        async with self._lock:
            if self._loaded is None:
                self._loaded = await asyncio.to_thread(self._load)
        return self._loaded

    def _load(self) -> Any:
        try:
            return self._module.SentenceTransformer(self._source, device="cpu")
        except (OSError, ValueError) as exc:
            raise EmbeddingError(
                f"The local embedding model {self._source!r} could not be loaded ({exc}). "
                "Check the model name or path in the agent's settings.",
                code="embedding_misconfigured",
            ) from exc

    async def aclose(self) -> None:
        self._loaded = None
