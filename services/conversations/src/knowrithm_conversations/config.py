"""Conversations settings: chat limits, history, retrieval and provider timeouts, and the secrets
of leads (ENCRYPTION_KEY for their email and phone at rest, the key that signs lead tokens)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from knowrithm_common.crypto import readable_fernet_keys
from knowrithm_common.leadtokens import LEAD_TOKEN_PRIVATE_KEY_ENV, LEAD_TOKEN_TTL_SECONDS, LeadTokenSigner
from knowrithm_common.settings import BaseServiceSettings


class ConversationsSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONVERSATIONS_", extra="ignore", populate_by_name=True)
    secret_fields: ClassVar[tuple[str, ...]] = ("encryption_key", "knowrithm_lead_token_private_key")

    # Fernet key(s), comma-separated newest first: leads' email and phone at rest.
    encryption_key: SecretStr = Field(SecretStr(""), validation_alias="ENCRYPTION_KEY")
    # Signs the lead token a widget visitor gets at registration (the gateway has the public key).
    knowrithm_lead_token_private_key: SecretStr = Field(
        SecretStr(""), validation_alias=LEAD_TOKEN_PRIVATE_KEY_ENV
    )
    lead_token_ttl_seconds: int = Field(LEAD_TOKEN_TTL_SECONDS, ge=60)

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
    # An agent the projection has not seen yet is asked of the agents service; no answer within
    # this long is a 503 (retryable), never a 404.
    agents_lookup_timeout_seconds: float = 2.0
    # SSE: a comment line this often keeps proxies from closing idle streams.
    sse_heartbeat_seconds: float = 15.0
    # A blocking chat (`?wait=true` or Accept: text/event-stream), or a stream of one answer,
    # gives up after this long.
    chat_wait_seconds: float = 120.0
    # A late joiner of an answer in progress asks the replica generating it for the text so
    # far; no reply within this long means that replica is gone (a redelivery restarts it).
    catch_up_timeout_seconds: float = 1.0
    # The public gateway URL: absolute stream URLs and the test pages' embed code point there.
    # Unset, links use the origin each request came in at (urls.py).
    base_url: str = Field("", validation_alias="BASE_URL")

    @field_validator("knowrithm_lead_token_private_key")
    @classmethod
    def _readable_lead_key(cls, value: SecretStr) -> SecretStr:
        # A key that is set but unreadable is a deployment mistake: refuse to start.
        if value.get_secret_value().strip():
            LeadTokenSigner(value.get_secret_value())
        return value

    _readable_encryption_key = field_validator("encryption_key")(readable_fernet_keys)
