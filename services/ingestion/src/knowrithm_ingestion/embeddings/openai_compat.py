"""Embeddings from any server speaking OpenAI's `POST /embeddings` (OpenAI, vLLM, Ollama, gateways)."""

from __future__ import annotations

from typing import Any

import httpx

from knowrithm_ingestion.embeddings.base import EmbeddingError, EmbeddingSpec, EmbeddingTask
from knowrithm_ingestion.embeddings.retry import (
    RemoteEmbedder,
    RetryPolicy,
    error_for_status,
    parse_retry_after,
)

PROVIDER = "openai-compatible"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
MAX_ERROR_DETAIL = 300


class OpenAICompatibleEmbedder(RemoteEmbedder):
    """Embeds through `POST {base_url}/embeddings`; batches sequentially, retries through `RetryPolicy`.

    `spec.params["dimensions"]` (true) sends the spec's dimension: text-embedding-3 models can
    shorten their vectors, while most other servers reject the field, so it is off by default.
    """

    provider = PROVIDER

    def __init__(
        self,
        spec: EmbeddingSpec,
        *,
        timeout: float = 30.0,
        batch_size: int = 64,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(model=spec.model, dimension=spec.dimension, batch_size=batch_size, retry=retry)
        self._send_dimensions = bool(spec.params.get("dimensions"))
        headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
        base_url = (spec.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)

    async def _embed_batch(self, texts: list[str], task: EmbeddingTask) -> list[list[float]]:
        body: dict[str, Any] = {"model": self._model, "input": texts}
        if self._send_dimensions:
            body["dimensions"] = self._dimension
        response = await self._client.post("/embeddings", json=body)
        if response.is_error:
            raise error_for_status(
                response.status_code,
                provider=PROVIDER,
                detail=_error_detail(response),
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        return _vectors(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def _vectors(response: httpx.Response) -> list[list[float]]:
    try:
        data = response.json()["data"]
        ordered = sorted(data, key=lambda item: item["index"])
        return [item["embedding"] for item in ordered]
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddingError(
            "The embedding server answered with something other than OpenAI's embeddings format. "
            "Check the embedding base URL in the agent's settings.",
            code="embedding_invalid_response",
        ) from exc


def _error_detail(response: httpx.Response) -> str:
    try:
        error = response.json().get("error")
        message = error.get("message") if isinstance(error, dict) else error
    except (ValueError, AttributeError):
        message = None
    return str(message or response.text or response.reason_phrase)[:MAX_ERROR_DETAIL]
