"""OpenAI-compatible chat completions, streamed (`POST {base_url}/chat/completions`, SSE).

Tools go out as `tools` (`{"type": "function", "function": {name, description, parameters}}`) with
`tool_choice`; the model's calls arrive as `delta.tool_calls` pieces (per `index`: the id and name
once, the arguments' JSON text in pieces, concatenated) and the turn ends with finish_reason
"tool_calls". The done Delta carries the completed calls.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from knowrithm_common.llm import errors
from knowrithm_common.llm.base import ChatMessage, Delta, LlmError, LlmSpec, Prompt, ToolCall, Usage

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DONE = "[DONE]"
LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class OpenAICompatibleLlm:
    """Streams answers from OpenAI or any server speaking its chat completions API (vLLM, Ollama, …)."""

    def __init__(self, spec: LlmSpec) -> None:
        self._model, self._api_key = spec.model, spec.api_key
        self._url = (spec.base_url or DEFAULT_BASE_URL).rstrip("/") + "/chat/completions"
        # Some compatible servers reject stream_options; params {"stream_usage": false} leaves it out.
        self._stream_usage = bool(spec.params.get("stream_usage", True))
        # The timeout bounds the wait for each piece, not the whole answer, which may take longer.
        self._http = httpx.AsyncClient(timeout=spec.timeout)

    @property
    def model(self) -> str:
        return self._model

    async def stream(self, prompt: Prompt) -> AsyncIterator[Delta]:
        """The answer as the provider generates it; the last Delta has done=True and the usage."""
        headers = {"Accept": "text/event-stream"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        body = self._body(prompt)
        try:
            async with self._http.stream("POST", self._url, json=body, headers=headers) as response:
                if response.status_code != httpx.codes.OK:
                    await response.aread()
                    raise errors.error_for_status(
                        response.status_code, detail=_error_message(response), secret=self._api_key
                    )
                async for delta in self._deltas(response):
                    yield delta
        except httpx.TransportError as exc:
            raise errors.error_for_transport(exc) from exc

    def _body(self, prompt: Prompt) -> dict[str, Any]:
        messages = [{"role": "system", "content": prompt.system}] if prompt.system else []
        messages += [_message(message) for message in prompt.messages]
        body: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "stream": True,
            "temperature": prompt.temperature,
            "max_tokens": prompt.max_tokens,
        }
        if self._stream_usage:
            body["stream_options"] = {"include_usage": True}
        if prompt.tools:
            body["tools"] = [
                {"type": "function", "function": {
                    "name": tool.name, "description": tool.description, "parameters": tool.parameters}}
                for tool in prompt.tools
            ]
            body["tool_choice"] = prompt.tool_choice
        return body

    async def _deltas(self, response: httpx.Response) -> AsyncIterator[Delta]:
        usage: Usage | None = None
        finished = False
        calls: dict[int, dict[str, str]] = {}  # per index: id, name, arguments so far
        async for data in sse_data(sse_lines(response.aiter_bytes())):
            if data == DONE:
                finished = True
                break
            chunk = _parse(data, secret=self._api_key)
            if isinstance(chunk.get("usage"), dict):
                usage = _usage(chunk["usage"])
            for choice in (chunk.get("choices") or [])[:1]:
                delta = choice.get("delta") or {}
                text = delta.get("content")
                if text:
                    yield Delta(text)
                _gather_tool_calls(calls, delta.get("tool_calls"))
                finished = finished or bool(choice.get("finish_reason"))
        if not finished:
            raise errors.cut_off()  # the connection ended cleanly, but the answer did not
        yield Delta(done=True, usage=usage, tool_calls=_tool_calls(calls))

    async def aclose(self) -> None:
        await self._http.aclose()


async def sse_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The stream's lines, broken at CR, LF or CRLF only.

    httpx's `aiter_lines` also breaks at U+2028, U+0085 and the like, which a provider may leave
    unescaped inside a JSON string; that would cut an answer's chunk in two.
    """
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        cut = len(buffer) - 1 if buffer.endswith(b"\r") else len(buffer)  # may be half of a CRLF
        *lines, rest = LINE_BREAK.split(buffer[:cut])
        buffer = rest + buffer[cut:]
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if buffer.rstrip(b"\r"):
        yield buffer.rstrip(b"\r").decode("utf-8", errors="replace")


async def sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """The `data` of each server-sent event (multi-line data joined; comments and other fields skipped)."""
    buffer: list[str] = []
    async for line in lines:
        if not line:
            if buffer:
                yield "\n".join(buffer)
                buffer = []
        elif line.startswith("data:"):
            value = line[len("data:") :]
            buffer.append(value[1:] if value.startswith(" ") else value)
    if buffer:
        yield "\n".join(buffer)


def _message(message: ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None  # an assistant turn that only called tools
        out["tool_calls"] = [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _gather_tool_calls(calls: dict[int, dict[str, str]], pieces: Any) -> None:
    """Adds one chunk's `delta.tool_calls` pieces to the calls being streamed (by their `index`)."""
    if pieces is None:
        return
    if not isinstance(pieces, list):
        raise errors.unreadable()
    for piece in pieces:
        if not isinstance(piece, dict) or not isinstance(piece.get("index", 0), int):
            raise errors.unreadable()
        call = calls.setdefault(piece.get("index", 0), {"id": "", "name": "", "arguments": ""})
        function = piece.get("function") or {}
        if piece.get("id"):
            call["id"] = str(piece["id"])
        if function.get("name"):
            call["name"] += str(function["name"])
        if function.get("arguments"):
            call["arguments"] += str(function["arguments"])


def _tool_calls(calls: dict[int, dict[str, str]]) -> tuple[ToolCall, ...]:
    return tuple(
        ToolCall(id=call["id"] or f"call_{index}", name=call["name"], arguments=call["arguments"])
        for index, call in sorted(calls.items())
        if call["name"]
    )


def _parse(data: str, *, secret: str | None) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError as exc:
        raise errors.unreadable() from exc
    if not isinstance(chunk, dict):
        raise errors.unreadable()
    if chunk.get("error"):  # a failure reported inside the stream, after the 200 status
        raise _stream_error(chunk["error"], secret=secret)
    return chunk


def _stream_error(error: Any, *, secret: str | None) -> LlmError:
    message = str(error.get("message") or "") if isinstance(error, dict) else str(error)
    status = error.get("code") if isinstance(error, dict) else None
    if isinstance(status, int) and 400 <= status < 600:
        return errors.error_for_status(status, detail=message, secret=secret)
    return LlmError(errors.UNAVAILABLE, code="llm_unavailable", retryable=True)


def _usage(usage: dict[str, Any]) -> Usage:
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    return Usage(input_tokens=int(prompt or 0), output_tokens=int(completion or 0))


def _error_message(response: httpx.Response) -> str:
    try:
        payload = response.json()
    except ValueError:
        return response.text
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or "")
    return str(error or payload.get("message") or "") if isinstance(payload, dict) else ""
