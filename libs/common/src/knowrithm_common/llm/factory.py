"""Builds the `Llm` an agent's configuration names."""

from __future__ import annotations

from collections.abc import Callable

from knowrithm_common.llm.base import Llm, LlmError, LlmSpec
from knowrithm_common.llm.gemini import GeminiLlm
from knowrithm_common.llm.offline import ExtractiveResponder
from knowrithm_common.llm.openai_compat import OpenAICompatibleLlm

BUILDERS: dict[str, Callable[[LlmSpec], Llm]] = {
    "gemini": GeminiLlm,
    "openai-compatible": OpenAICompatibleLlm,
    "offline": lambda spec: ExtractiveResponder(spec.model),
}
# Providers whose adapter sends `Prompt.tools` and reports the model's calls (the offline responder
# answers without them).
TOOL_PROVIDERS = frozenset({"gemini", "openai-compatible"})


def create_llm(spec: LlmSpec) -> Llm:
    """The adapter for `spec.provider`; an unknown provider is a configuration error an admin can fix."""
    builder = BUILDERS.get(spec.provider)
    if builder is None:
        known = ", ".join(BUILDERS)
        raise LlmError(
            f"The agent's AI provider {spec.provider!r} is not supported; "
            f"an admin should choose one of {known} in the agent's settings.",
            code="llm_misconfigured",
        )
    return builder(spec)
