"""Gemini chat through google-genai, streamed (`models/{model}:streamGenerateContent?alt=sse`).

Tools are not mapped to Gemini's functionDeclarations here: `Prompt.tools` are never sent, and
Gemini is not in `factory.TOOL_PROVIDERS`, so callers answer without offering them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from knowrithm_common.llm import errors
from knowrithm_common.llm.base import Delta, LlmError, LlmSpec, Prompt, Usage

ROLES = {"user": "user", "assistant": "model"}
INVALID_KEY = "API_KEY_INVALID"
BLOCKED = frozenset({"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"})
DECLINED = (
    "The AI provider declined to answer this question (blocked by its content filter); please rephrase it."
)


class GeminiLlm:
    """Streams answers from a Gemini model; one request per answer, no retries of its own."""

    def __init__(self, spec: LlmSpec) -> None:
        from google import genai
        from google.genai import types

        self._types, self._model, self._api_key = types, spec.model, spec.api_key
        # Our own httpx client: google-genai would otherwise pick aiohttp when installed, whose
        # connection errors it retries on its own (1-10 s sleeps). The timeout bounds the wait
        # for each piece of the stream (httpx semantics), not the whole answer.
        self._http = httpx.AsyncClient(timeout=spec.timeout)
        options = types.HttpOptions(
            base_url=spec.base_url,
            api_version=spec.params.get("api_version"),  # None: the SDK's default
            timeout=max(1, int(spec.timeout * 1000)),
            httpx_async_client=self._http,
        )
        try:
            self._client = genai.Client(api_key=spec.api_key, http_options=options)
        except ValueError as exc:  # no API key given and none in the environment
            raise LlmError(errors.NO_API_KEY, code="llm_misconfigured") from exc

    @property
    def model(self) -> str:
        return self._model

    async def stream(self, prompt: Prompt) -> AsyncIterator[Delta]:
        """The answer as Gemini generates it; the last Delta has done=True and the usage."""
        from google.genai import errors as genai_errors

        try:
            chunks = await self._client.aio.models.generate_content_stream(
                model=self._model, contents=self._contents(prompt), config=self._config(prompt)
            )
            async for delta in _deltas(chunks):
                yield delta
        except genai_errors.APIError as exc:
            detail = str(exc.message or exc.status or "")
            raise errors.error_for_status(_status(exc), detail=detail, secret=self._api_key) from exc
        except httpx.TransportError as exc:
            raise errors.error_for_transport(exc) from exc

    def _contents(self, prompt: Prompt) -> list[Any]:
        types = self._types
        return [
            types.Content(role=ROLES[message.role], parts=[types.Part(text=message.content)])
            for message in prompt.messages
            if message.role in ROLES
        ]

    def _config(self, prompt: Prompt) -> Any:
        # Gemini has no system turn in the history: system messages join the system instruction.
        extra = [message.content for message in prompt.messages if message.role == "system"]
        system = "\n\n".join(part for part in [prompt.system, *extra] if part)
        return self._types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=prompt.temperature,
            max_output_tokens=prompt.max_tokens,
        )

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        self._client.close()
        await self._http.aclose()


async def _deltas(chunks: AsyncIterator[Any]) -> AsyncIterator[Delta]:
    usage: Usage | None = None
    finish: str | None = None
    said_something = False
    async for chunk in chunks:
        feedback = chunk.prompt_feedback
        if feedback is not None and feedback.block_reason:
            raise LlmError(DECLINED, code="llm_rejected")
        if chunk.usage_metadata is not None:
            usage = _usage(chunk.usage_metadata)
        for candidate in (chunk.candidates or [])[:1]:
            for text in _texts(candidate):
                said_something = True
                yield Delta(text)
            if candidate.finish_reason:
                finish = _name(candidate.finish_reason)
    if finish is None:
        raise errors.cut_off()  # Gemini always ends with a finish reason; the connection ended early
    if finish in BLOCKED and not said_something:
        raise LlmError(DECLINED, code="llm_rejected")
    yield Delta(done=True, usage=usage)


def _status(exc: Any) -> int:
    # Gemini answers a wrong API key with 400 INVALID_ARGUMENT, the reason only in the details.
    if exc.code == 400 and INVALID_KEY in str(exc.details):
        return 401
    return int(exc.code or 0)


def _texts(candidate: Any) -> list[str]:
    parts = candidate.content.parts if candidate.content is not None else None
    return [part.text for part in parts or [] if part.text and not part.thought]


def _usage(metadata: Any) -> Usage:
    # Thinking models bill their thoughts as output tokens, so they count as output here too.
    output = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    return Usage(input_tokens=metadata.prompt_token_count or 0, output_tokens=output)


def _name(reason: Any) -> str:
    return str(getattr(reason, "value", reason))
