"""Gateway settings: shared variables plus GATEWAY_-prefixed ones, the assertion and lead-token keys."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from knowrithm_common.leadtokens import LEAD_TOKEN_PUBLIC_KEY_ENV, LeadTokenVerifier
from knowrithm_common.settings import BaseServiceSettings

MIB = 1024 * 1024


class GatewaySettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)
    secret_fields: ClassVar[tuple[str, ...]] = ("knowrithm_assertion_private_key",)
    service_name: ClassVar[str] = "gateway"

    knowrithm_assertion_private_key: SecretStr = Field(
        SecretStr(""), validation_alias="KNOWRITHM_ASSERTION_PRIVATE_KEY"
    )
    # Verifies the widget visitors' lead tokens (conversations signs them). Optional: without
    # it the gateway still runs and answers every lead token with 401 invalid_token.
    knowrithm_lead_token_public_key: SecretStr = Field(
        SecretStr(""), validation_alias=LEAD_TOKEN_PUBLIC_KEY_ENV
    )

    auth_url: str = "http://127.0.0.1:8601"
    agents_url: str = "http://127.0.0.1:8602"
    conversations_url: str = "http://127.0.0.1:8603"
    ingestion_url: str = "http://127.0.0.1:8604"
    analytics_url: str = "http://127.0.0.1:8605"
    ingestion_worker_url: str = "http://127.0.0.1:8606"
    console_url: str = "http://127.0.0.1:8607"  # the web console, served under /console (console.py)

    # Idle time allowed while waiting for an upstream's bytes (aiohttp's sock_read: it starts
    # only once the request body is sent, so slow client uploads do not count against it).
    upstream_timeout_seconds: float = 30.0
    # SSE responses: the idle limit between events; None waits as long as the client stays.
    stream_idle_timeout_seconds: float | None = 300.0
    connect_timeout_seconds: float = 5.0
    health_timeout_seconds: float = 2.0
    # Lets the 50 MB document uploads through with room for multipart framing.
    max_body_bytes: int = 55 * MIB

    # Keep-alive pool to the upstreams. The idle limit must stay below uvicorn's own
    # keep-alive (5 s) or a POST could be written to a socket the service is closing.
    pool_size: int = 2048  # open SSE streams each hold one upstream connection
    pool_keepalive_seconds: float = 4.0

    # Comma-separated origins; empty means "*" (without credentials) in development, none else.
    cors_origins: str = ""
    openapi_cache_seconds: float = 30.0
    # An unknown `kid` refetches auth's JWKS, but never more often than this.
    jwks_min_refresh_seconds: float = 5.0
    # Known keys are refetched this often too, so a key auth withdrew stops verifying.
    jwks_max_age_seconds: float = 300.0

    # API keys: a resolved key stays in Redis this long (auth deletes it on revocation).
    api_key_cache_seconds: int = 300
    api_key_resolve_timeout_seconds: float = 5.0
    # Wrong secrets for one key, like auth's failed logins: this many within the lock-out
    # window lock the key id (429 with Retry-After, even for the right secret) for
    # `api_key_lockout_minutes`; 0 turns it off.
    api_key_max_failed_secrets: int = 5
    api_key_lockout_minutes: float = 15.0

    # Rate limits (fixed windows aligned to the clock, counted in Redis; 0 turns one off).
    # API keys carry their own hourly and daily limits; these apply per minute.
    rate_limit_user_per_minute: int = 600
    rate_limit_company_per_minute: int = 3000
    rate_limit_anonymous_per_minute: int = 300  # per client IP, callers without credentials
    rate_limit_auth_per_minute: int = 20  # per client IP, public credential routes (login, ...)
    # Per lead (a widget visitor's token); leads also count in their IP's anonymous bucket.
    rate_limit_lead_per_minute: int = 120
    # Comma-separated IPs or CIDRs of proxies in front of the gateway: from these peers the
    # client address is taken from X-Forwarded-For; from any other peer it is the peer itself.
    trusted_proxies: str = ""

    # API usage events: one record per request, published in batches.
    usage_flush_seconds: float = 1.0
    usage_batch_size: int = 500  # records per event; a full batch is published at once
    usage_buffer_limit: int = 100_000  # records held while NATS is down; the oldest go first

    @field_validator("knowrithm_lead_token_public_key")
    @classmethod
    def _readable_lead_key(cls, value: SecretStr) -> SecretStr:
        # A key that is set but unreadable is a deployment mistake: refuse to start.
        if value.get_secret_value().strip():
            LeadTokenVerifier(value.get_secret_value())
        return value

    def lead_token_verifier(self) -> LeadTokenVerifier | None:
        """The lead-token verifier, or None when no key is configured."""
        pem = self.knowrithm_lead_token_public_key.get_secret_value()
        return LeadTokenVerifier(pem) if pem.strip() else None

    def upstreams(self) -> dict[str, str]:
        """Base URL of every upstream process, keyed by the service names of the route table."""
        return {
            "auth": self.auth_url.rstrip("/"),
            "agents": self.agents_url.rstrip("/"),
            "conversations": self.conversations_url.rstrip("/"),
            "ingestion": self.ingestion_url.rstrip("/"),
            "analytics": self.analytics_url.rstrip("/"),
            "ingestion-worker": self.ingestion_worker_url.rstrip("/"),
            "console": self.console_url.rstrip("/"),
        }

    def allowed_origins(self) -> list[str]:
        """The CORS origins in force."""
        origins = [o.strip() for o in self.cors_origins.split(",") if o.strip()]
        if not origins and self.is_development:
            return ["*"]
        return origins
