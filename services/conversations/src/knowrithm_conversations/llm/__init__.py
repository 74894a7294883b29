"""Large language models behind one streaming port: Gemini, OpenAI-compatible servers, or offline."""

from knowrithm_conversations.llm.base import (
    ChatMessage,
    Delta,
    Llm,
    LlmError,
    LlmSpec,
    Passage,
    Prompt,
    Usage,
)
from knowrithm_conversations.llm.factory import create_llm
from knowrithm_conversations.llm.gemini import GeminiLlm
from knowrithm_conversations.llm.offline import DONT_KNOW, ExtractiveResponder
from knowrithm_conversations.llm.openai_compat import OpenAICompatibleLlm

__all__ = [
    "DONT_KNOW",
    "ChatMessage",
    "Delta",
    "ExtractiveResponder",
    "GeminiLlm",
    "Llm",
    "LlmError",
    "LlmSpec",
    "OpenAICompatibleLlm",
    "Passage",
    "Prompt",
    "Usage",
    "create_llm",
]
