"""The LLM port: a prompt in, the answer's text streamed out in pieces.

The answer pipeline builds the prompt (instructions, numbered passages fenced as data,
history, the question); adapters only talk to their provider and turn its failures into
`LlmError`s a user can read. Usage (tokens) is reported at the end when the provider gives it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str


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
    """A piece of the answer's text, or (last) the usage when `done`."""

    text: str = ""
    done: bool = False
    usage: Usage | None = None


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
