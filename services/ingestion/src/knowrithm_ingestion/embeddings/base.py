"""The embeddings port: text in, vectors out, whichever provider computes them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class EmbeddingTask(StrEnum):
    DOCUMENT = "document"  # passages being indexed
    QUERY = "query"  # a search query


@dataclass(frozen=True, slots=True)
class EmbeddingSpec:
    """Which model embeds an agent's knowledge (from the agent's resolved configuration)."""

    provider: str  # gemini | openai-compatible | sentence-transformers | offline
    model: str
    dimension: int
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    params: dict[str, Any] = field(default_factory=dict)


class Embedder(Protocol):
    """Computes embeddings; implementations batch and retry internally."""

    @property
    def model(self) -> str: ...

    @property
    def dimension(self) -> int: ...

    async def embed(self, texts: Sequence[str], *, task: EmbeddingTask) -> list[list[float]]:
        """One vector per text, in order, each of `dimension` floats."""
        ...

    async def aclose(self) -> None: ...


class ModelEmbedder:
    """What every embedder shares: the name and vector size of its model (`Embedder`'s properties)."""

    def __init__(self, *, model: str, dimension: int) -> None:
        self._model, self._dimension = model, dimension

    @property
    def model(self) -> str:
        return self._model

    @property
    def dimension(self) -> int:
        return self._dimension

    async def aclose(self) -> None:
        return None


class EmbeddingError(Exception):
    """The provider refused or failed; `reason` is shown to the user, `retryable` drives job retries."""

    def __init__(self, reason: str, *, retryable: bool = False, code: str = "embedding_failed") -> None:
        super().__init__(reason)
        self.reason, self.retryable, self.code = reason, retryable, code
