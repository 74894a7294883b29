"""Gemini chat through google-genai, streamed (`models/{model}:streamGenerateContent?alt=sse`).

Tools go out as one `Tool` of `functionDeclarations` (`parametersJsonSchema`) with
`toolConfig.functionCallingConfig.mode` AUTO or NONE (the SDK's automatic function calling is off:
the caller runs the calls). The model's `functionCall` parts (complete, not in pieces) become the
done Delta's tool calls, their thought signature kept; an assistant message with tool calls goes
back as a `model` turn of `functionCall` parts (with their signatures), and consecutive tool
messages as one `user` turn of `functionResponse` parts (`{"result": content}`, named after the call).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from knowrithm_common.llm import errors
from knowrithm_common.llm.base import Delta, LlmError, LlmSpec, Prompt, ToolCall, Usage

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
        contents: list[Any] = []
        names: dict[str, str] = {}  # tool call id -> the function's name, for its response
        for message in prompt.messages:
            if message.role == "assistant" and message.tool_calls:
                parts = [types.Part(text=message.content)] if message.content else []
                for call in message.tool_calls:
                    names[call.id] = call.name
                    function_call = types.FunctionCall(name=call.name, args=_arguments(call))
                    parts.append(types.Part(function_call=function_call, thought_signature=call.signature))
                contents.append(types.Content(role="model", parts=parts))
            elif message.role == "tool":
                response = types.FunctionResponse(name=names.get(message.tool_call_id or "", ""),
                                                  response={"result": message.content})
                part = types.Part(function_response=response)
                last: Any = contents[-1] if contents else None
                if last is not None and last.role == "user" and _responds(last):
                    last.parts.append(part)  # the responses to one turn's calls go together
                else:
                    contents.append(types.Content(role="user", parts=[part]))
            elif message.role in ROLES:
                text = types.Part(text=message.content)
                contents.append(types.Content(role=ROLES[message.role], parts=[text]))
        return contents

    def _config(self, prompt: Prompt) -> Any:
        # Gemini has no system turn in the history: system messages join the system instruction.
        extra = [message.content for message in prompt.messages if message.role == "system"]
        system = "\n\n".join(part for part in [prompt.system, *extra] if part)
        types = self._types
        tools: dict[str, Any] = {}
        if prompt.tools:
            declarations = [
                types.FunctionDeclaration(name=tool.name, description=tool.description,
                                          parameters_json_schema=tool.parameters)
                for tool in prompt.tools
            ]
            calling = types.FunctionCallingConfig(mode="AUTO" if prompt.tool_choice == "auto" else "NONE")
            tools = {
                "tools": [types.Tool(function_declarations=declarations)],
                "tool_config": types.ToolConfig(function_calling_config=calling),
                "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
            }
        return types.GenerateContentConfig(
            system_instruction=system or None,
            temperature=prompt.temperature,
            max_output_tokens=prompt.max_tokens,
            **tools,
        )

    async def aclose(self) -> None:
        await self._client.aio.aclose()
        self._client.close()
        await self._http.aclose()


async def _deltas(chunks: AsyncIterator[Any]) -> AsyncIterator[Delta]:
    usage: Usage | None = None
    finish: str | None = None
    said_something = False
    calls: list[ToolCall] = []
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
            calls += _function_calls(candidate, first=len(calls))
            if candidate.finish_reason:
                finish = _name(candidate.finish_reason)
    if finish is None:
        raise errors.cut_off()  # Gemini always ends with a finish reason; the connection ended early
    if finish in BLOCKED and not said_something and not calls:
        raise LlmError(DECLINED, code="llm_rejected")
    yield Delta(done=True, usage=usage, tool_calls=tuple(calls))


def _status(exc: Any) -> int:
    # Gemini answers a wrong API key with 400 INVALID_ARGUMENT, the reason only in the details.
    if exc.code == 400 and INVALID_KEY in str(exc.details):
        return 401
    return int(exc.code or 0)


def _texts(candidate: Any) -> list[str]:
    parts = candidate.content.parts if candidate.content is not None else None
    return [part.text for part in parts or [] if part.text and not part.thought]


def _function_calls(candidate: Any, *, first: int) -> list[ToolCall]:
    parts = candidate.content.parts if candidate.content is not None else None
    calls = [part for part in parts or [] if part.function_call is not None and part.function_call.name]
    return [
        ToolCall(id=part.function_call.id or f"call_{first + n}", name=part.function_call.name,
                 arguments=json.dumps(part.function_call.args or {}, ensure_ascii=False),
                 signature=part.thought_signature)
        for n, part in enumerate(calls)
    ]


def _responds(content: Any) -> bool:
    """The content is function responses (the last part is one)."""
    return bool(content.parts) and content.parts[-1].function_response is not None


def _arguments(call: ToolCall) -> dict[str, Any]:
    try:
        return call.parsed_arguments()
    except ValueError:
        return {}  # sent back as the model wrote it would be refused: the result says it was unreadable


def _usage(metadata: Any) -> Usage:
    # Thinking models bill their thoughts as output tokens, so they count as output here too.
    output = (metadata.candidates_token_count or 0) + (metadata.thoughts_token_count or 0)
    return Usage(input_tokens=metadata.prompt_token_count or 0, output_tokens=output)


def _name(reason: Any) -> str:
    return str(getattr(reason, "value", reason))
