"""Conversations settings: chat limits, history, retrieval and provider timeouts."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from knowrithm_common.settings import BaseServiceSettings


class ConversationsSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONVERSATIONS_", extra="ignore", populate_by_name=True)

    # Longest user message accepted (characters).
    max_message_chars: int = 4000
    # Turns of history (a question and its answer) the prompt carries; kept in Redis.
    history_turns: int = 6
    history_ttl_seconds: int = 24 * 3600
    # Passages retrieved from ingestion per question, and how long retrieval may take.
    retrieval_limit: int = 5
    retrieval_timeout_seconds: float = 5.0
    # A provider that says nothing for this long fails the answer (never a hung chat).
    llm_timeout_seconds: float = 60.0
    # Answers generated at once by one process (the JOBS answerer), and redelivery.
    answer_concurrency: int = 16
    answer_ack_wait_seconds: float = 30.0
    answer_max_deliver: int = 3
    # SSE: a comment line this often keeps proxies from closing idle streams.
    sse_heartbeat_seconds: float = 15.0
    # A blocking chat (`?wait=true` or Accept: text/event-stream) gives up after this long.
    chat_wait_seconds: float = 120.0
    base_url: str = Field("http://127.0.0.1:8543", validation_alias="BASE_URL")
