"""Provider failures turned into `LlmError`s whose reason a chat user (or their admin) can act on."""

from __future__ import annotations

import re

import httpx

from knowrithm_common.llm.base import LlmError

AUTH_STATUSES = frozenset({401, 403})
RATE_LIMITED = 429
REQUEST_TIMEOUT = 408
MAX_DETAIL = 200  # characters of the provider's own message kept in a rejection reason

AUTH_FAILED = "The AI provider refused the API key; an admin should check the agent's settings."
RATE_LIMITED_REASON = "The AI provider is receiving too many requests right now; please try again shortly."
UNAVAILABLE = "The AI provider is unavailable right now; please try again in a moment."
TIMED_OUT = "The AI provider took too long to answer; please try again, or ask a shorter question."
CUT_OFF = "The AI provider stopped in the middle of the answer; please try again."
UNREADABLE = "The AI provider sent a reply that could not be read; please try again."
NO_API_KEY = "No API key is configured for the AI provider; an admin should add it in the agent's settings."


def error_for_status(status: int, *, detail: str = "", secret: str | None = None) -> LlmError:
    """The error for an HTTP error status from the provider (`detail` is its own message)."""
    if status in AUTH_STATUSES:
        return LlmError(AUTH_FAILED, code="llm_auth_failed")
    if status == RATE_LIMITED:
        return LlmError(RATE_LIMITED_REASON, code="llm_rate_limited", retryable=True)
    if status == REQUEST_TIMEOUT:
        return timed_out()
    if status >= 500:
        return LlmError(UNAVAILABLE, code="llm_unavailable", retryable=True)
    message = trim(detail, secret=secret) or f"HTTP {status}"
    reason = f"The AI provider rejected the request ({message}); "
    return LlmError(reason + "an admin should check the agent's model settings.", code="llm_rejected")


def error_for_transport(exc: httpx.TransportError) -> LlmError:
    """The error for a connection that could not be made, timed out, or broke mid-answer."""
    if isinstance(exc, httpx.TimeoutException):
        return timed_out()
    if isinstance(exc, httpx.ConnectError):
        return LlmError(UNAVAILABLE, code="llm_unavailable", retryable=True)
    return cut_off()


def timed_out() -> LlmError:
    """The provider did not answer (or stopped sending) within the agent's timeout."""
    return LlmError(TIMED_OUT, code="llm_timeout")


def cut_off() -> LlmError:
    """The stream ended before the provider said the answer was complete."""
    return LlmError(CUT_OFF, code="llm_unavailable", retryable=True)


def unreadable() -> LlmError:
    """The provider's stream held something that is not its documented format."""
    return LlmError(UNREADABLE, code="llm_unavailable", retryable=True)


def trim(detail: str, *, secret: str | None = None) -> str:
    """The provider's message on one line, shortened, with the API key masked should it be echoed."""
    text = re.sub(r"\s+", " ", detail).strip()
    if secret:
        text = text.replace(secret, "***")
    return text if len(text) <= MAX_DETAIL else text[: MAX_DETAIL - 1].rstrip() + "…"
