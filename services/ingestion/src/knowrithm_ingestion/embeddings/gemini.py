"""Gemini embeddings through google-genai (`batchEmbedContents`, at most 100 texts per request)."""

from __future__ import annotations

from typing import Any

import httpx

from knowrithm_ingestion.embeddings.base import EmbeddingError, EmbeddingSpec, EmbeddingTask
from knowrithm_ingestion.embeddings.retry import (
    RemoteEmbedder,
    RetryPolicy,
    TransientError,
    error_for_status,
    parse_retry_after,
)

PROVIDER = "gemini"
MAX_BATCH = 100  # Gemini's limit of requests in one batchEmbedContents call
TASK_TYPES = {EmbeddingTask.DOCUMENT: "RETRIEVAL_DOCUMENT", EmbeddingTask.QUERY: "RETRIEVAL_QUERY"}


class GeminiEmbedder(RemoteEmbedder):
    """Embeds with a Gemini embedding model; batches sequentially, retries through `RetryPolicy`."""

    provider = PROVIDER

    def __init__(
        self,
        spec: EmbeddingSpec,
        *,
        timeout: float = 30.0,
        batch_size: int = MAX_BATCH,
        retry: RetryPolicy | None = None,
    ) -> None:
        from google import genai
        from google.genai import types

        super().__init__(model=spec.model, dimension=spec.dimension, batch_size=min(batch_size, MAX_BATCH),
                         retry=retry)
        self._types = types
        # Our own httpx client: google-genai would otherwise pick aiohttp when installed, whose
        # connection errors it retries on its own (1-10 s sleeps). It retries nothing else
        # without retry_options, so call_with_retries is the only retry loop.
        self._http = httpx.AsyncClient(timeout=timeout)
        options = types.HttpOptions(
            base_url=spec.base_url,
            api_version=spec.params.get("api_version"),  # None: the SDK's default (v1 in 3.x)
            timeout=int(timeout * 1000),
            httpx_async_client=self._http,
        )
        try:
            self._client = genai.Client(api_key=spec.api_key, http_options=options).aio
        except ValueError as exc:  # no API key given and none in the environment
            raise EmbeddingError(
                "No Gemini API key is configured. Add the embedding API key in the agent's settings.",
                code="embedding_auth_failed",
            ) from exc

    async def _embed_batch(self, texts: list[str], task: EmbeddingTask) -> list[list[float]]:
        from google.genai import errors

        config = self._types.EmbedContentConfig(
            task_type=TASK_TYPES[task], output_dimensionality=self._dimension
        )
        try:
            response = await self._client.models.embed_content(
                model=self._model, contents=texts, config=config  # type: ignore[arg-type]
            )
        except errors.APIError as exc:
            raise _classify(exc) from exc
        return [embedding.values or [] for embedding in response.embeddings or []]

    async def aclose(self) -> None:
        await self._client.aclose()
        await self._http.aclose()


def _classify(exc: Any) -> TransientError | EmbeddingError:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    return error_for_status(
        int(exc.code or 0),
        provider=PROVIDER,
        detail=str(exc.message or exc.status or ""),
        retry_after=parse_retry_after(headers.get("retry-after")),
    )
