"""Large language models behind one streaming port: Gemini, OpenAI-compatible servers, or offline."""

from knowrithm_common.llm.base import (
    ChatMessage,
    Delta,
    Llm,
    LlmError,
    LlmSpec,
    Passage,
    Prompt,
    Tool,
    ToolCall,
    Usage,
)
from knowrithm_common.llm.factory import TOOL_PROVIDERS, create_llm
from knowrithm_common.llm.gemini import GeminiLlm
from knowrithm_common.llm.offline import DONT_KNOW, ExtractiveResponder
from knowrithm_common.llm.openai_compat import OpenAICompatibleLlm

__all__ = [
    "DONT_KNOW",
    "TOOL_PROVIDERS",
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
    "Tool",
    "ToolCall",
    "Usage",
    "create_llm",
]
