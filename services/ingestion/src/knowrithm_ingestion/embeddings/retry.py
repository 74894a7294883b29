"""Remote embedding providers: texts sent in batches (`RemoteEmbedder`), retries, and the checks
every adapter applies to what comes back.

Adapters turn a provider's failure into either `TransientError` (worth another try: 429, 5xx,
timeouts, dropped connections) or a final `EmbeddingError`; `call_with_retries` waits with
exponential backoff and full jitter between tries, honours `Retry-After`, and after the last try
raises a retryable `EmbeddingError` so the ingestion job is retried later instead of failing.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import httpx

from knowrithm_ingestion.embeddings.base import EmbeddingError, EmbeddingTask, ModelEmbedder

T = TypeVar("T")

RATE_LIMITED = 429
RETRYABLE_STATUSES = frozenset({408, 429})  # and every 5xx
AUTH_STATUSES = frozenset({401, 403})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a provider call."""

    max_retries: int = 5  # retries after the first try
    base_delay: float = 0.5  # seconds; doubled per retry, full jitter
    max_delay: float = 20.0  # cap of one computed wait
    max_retry_after: float = 60.0  # a longer Retry-After gives up now: the job retries later

    def backoff(self, attempt: int) -> float:
        """Full-jitter wait before retry number `attempt` (0-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2**attempt))
        return random.uniform(0, ceiling)  # noqa: S311 - jitter, not a secret


class TransientError(Exception):
    """A provider failure that may succeed when tried again."""

    def __init__(self, detail: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.detail, self.status, self.retry_after = detail, status, retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def error_for_status(
    status: int, *, provider: str, detail: str = "", retry_after: float | None = None
) -> TransientError | EmbeddingError:
    """Classify an HTTP error status from a provider: retry it, or fail with a readable reason."""
    if status in AUTH_STATUSES:
        return EmbeddingError(
            f"The embedding provider refused the API key ({provider}, HTTP {status}). "
            "Check the embedding API key in the agent's settings.",
            retryable=False,
            code="embedding_auth_failed",
        )
    if status in RETRYABLE_STATUSES or status >= 500:
        return TransientError(detail or f"HTTP {status}", status=status, retry_after=retry_after)
    suffix = f": {detail}" if detail else ""
    return EmbeddingError(
        f"The embedding provider rejected the request ({provider}, HTTP {status}{suffix}). "
        "Check the embedding model name, dimension and base URL in the agent's settings.",
        retryable=False,
        code="embedding_rejected",
    )


def exhausted(error: TransientError, *, provider: str, tries: int) -> EmbeddingError:
    """The retryable error raised when a provider kept failing."""
    if error.status == RATE_LIMITED:
        return EmbeddingError(
            f"The embedding provider is rate limiting requests ({provider}, {tries} tries). "
            "The documents will be processed again later; a higher quota avoids the wait.",
            retryable=True,
            code="embedding_rate_limited",
        )
    return EmbeddingError(
        f"The embedding provider is unavailable ({provider}: {error.detail}; {tries} tries). "
        "The documents will be processed again later.",
        retryable=True,
        code="embedding_unavailable",
    )


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    provider: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `call`, retrying `TransientError`s per `policy`; other errors pass through."""
    attempt = 0
    while True:
        try:
            return await call()
        except TransientError as error:
            wait = _next_wait(error, policy=policy, attempt=attempt)
            if wait is None:
                raise exhausted(error, provider=provider, tries=attempt + 1) from error
            await sleep(wait)
            attempt += 1


def _next_wait(error: TransientError, *, policy: RetryPolicy, attempt: int) -> float | None:
    if attempt >= policy.max_retries:
        return None
    if error.retry_after is not None:
        # The provider said when; waiting much longer than a job should block gives up now.
        return error.retry_after if error.retry_after <= policy.max_retry_after else None
    return policy.backoff(attempt)


class RemoteEmbedder(ModelEmbedder, ABC):
    """An embedder calling a provider over HTTP: texts go in batches of at most `batch_size`, one
    request after another, each retried through `retry` (timeouts and dropped connections too), and
    what comes back is checked. `_embed_batch` makes one request."""

    provider = "remote"

    def __init__(self, *, model: str, dimension: int, batch_size: int, retry: RetryPolicy | None) -> None:
        super().__init__(model=model, dimension=dimension)
        self._batch_size = max(1, batch_size)
        self._retry = retry or RetryPolicy()

    async def embed(self, texts: Sequence[str], *, task: EmbeddingTask) -> list[list[float]]:
        """One vector per text, in order (several requests when texts exceed the batch size)."""
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            call = partial(self._checked_batch, list(texts[start : start + self._batch_size]), task)
            vectors += await call_with_retries(call, policy=self._retry, provider=self.provider)
        return vectors

    async def _checked_batch(self, texts: list[str], task: EmbeddingTask) -> list[list[float]]:
        try:
            vectors = await self._embed_batch(texts, task)
        except httpx.TimeoutException as exc:
            raise TransientError("the request timed out") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"connection failed ({type(exc).__name__})") from exc
        return check_vectors(vectors, expected=len(texts), dimension=self.dimension, provider=self.provider)

    @abstractmethod
    async def _embed_batch(self, texts: list[str], task: EmbeddingTask) -> list[list[float]]:
        """One provider call for a batch of at most `batch_size` texts."""


def check_vectors(
    vectors: Sequence[Sequence[float]], *, expected: int, dimension: int, provider: str
) -> list[list[float]]:
    """Return the vectors as lists after checking their count and dimension."""
    if len(vectors) != expected:
        raise EmbeddingError(
            f"The embedding provider returned {len(vectors)} vectors for {expected} texts ({provider}). "
            "Try again; if it persists, check the embedding base URL.",
            retryable=True,
            code="embedding_invalid_response",
        )
    for vector in vectors:
        if len(vector) != dimension:
            raise EmbeddingError(
                f"The embedding model returned vectors of dimension {len(vector)}, expected {dimension} "
                f"({provider}). Set the embedding dimension in the agent's settings to the model's.",
                retryable=False,
                code="embedding_dimension_mismatch",
            )
    return [list(vector) for vector in vectors]
