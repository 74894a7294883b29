"""The LLM port: a prompt in, the answer's text streamed out in pieces.

The answer pipeline builds the prompt (instructions, numbered passages fenced as data,
history, the question); adapters only talk to their provider and turn its failures into
`LlmError`s a user can read. Usage (tokens) is reported at the end when the provider gives it.

Tools (function calling): a prompt may offer `tools`; an adapter that can call them (see
`factory.TOOL_PROVIDERS`) sends them and reports the calls the model made on the last Delta
(`tool_calls`, with done=True). The caller runs them and asks again with the conversation grown by
an assistant message carrying those `tool_calls` and one `tool` message per result
(`tool_call_id`). Adapters that cannot call tools never send them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class Tool:
    """A function the model may call: its name, what it does, its parameters as a JSON schema."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model made: the provider's call id, the tool's name, its arguments as JSON text."""

    id: str
    name: str
    arguments: str
    # Gemini's thought signature of the call's part, sent back with the call on the next request.
    signature: bytes | None = field(default=None, repr=False)

    def parsed_arguments(self) -> dict[str, Any]:
        """The arguments as an object; ValueError when the model wrote something else."""
        value = json.loads(self.arguments or "{}")
        if not isinstance(value, dict):
            raise ValueError("the arguments are not a JSON object")
        return value


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant message: the calls the model made
    tool_call_id: str | None = None  # a tool message: the call it answers


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved passage the answer may cite as [n] (n = its 1-based position)."""

    number: int
    content: str
    document_id: str
    document_name: str
    page: int | None
    chunk_id: str
    score: float
    source_url: str | None = None


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str  # instructions, personality, language and the fenced passages
    messages: Sequence[ChatMessage]  # history, then the user's question last
    passages: Sequence[Passage] = ()  # also given structurally (the offline responder reads them)
    temperature: float = 0.2
    max_tokens: int = 1024
    tools: Sequence[Tool] = ()  # offered to the model (adapters that cannot call tools ignore them)
    tool_choice: Literal["auto", "none"] = "auto"  # "none": the tools are known but must not be called


@dataclass(frozen=True, slots=True)
class LlmSpec:
    """Which model answers (from the agent's resolved configuration) and its key."""

    provider: str  # gemini | openai-compatible | offline
    model: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    params: dict[str, Any] = field(default_factory=dict)
    timeout: float = 60.0


@dataclass(slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Delta:
    """A piece of the answer's text, or (last) the usage when `done` and the tools the model called."""

    text: str = ""
    done: bool = False
    usage: Usage | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # on the done Delta: complete calls the caller should run


class Llm(Protocol):
    @property
    def model(self) -> str: ...

    def stream(self, prompt: Prompt) -> AsyncIterator[Delta]:
        """The answer as it is generated; the last item has done=True (with usage when known)."""
        ...

    async def aclose(self) -> None: ...


class LlmError(Exception):
    """The provider failed; `reason` is shown in the chat, `code` says which failure."""

    def __init__(self, reason: str, *, code: str = "llm_failed", retryable: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.code, self.retryable = reason, code, retryable
