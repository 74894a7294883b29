"""Console settings: CONSOLE_-prefixed variables plus the shared ones (REDIS_URL, KNOWRITHM_ENV)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from knowrithm_common.settings import BaseServiceSettings


class ConsoleSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CONSOLE_", extra="ignore", populate_by_name=True)
    service_name: ClassVar[str] = "console"

    # The public API's base URL: the gateway. Every call goes through it with the user's own
    # token, so its policies, rate limits, tenancy and audit apply to the console unchanged.
    api_url: str = "http://127.0.0.1:8543"
    # The source address of the console's calls to the gateway, when it must be a particular one:
    # the embedded stack binds 127.0.0.2, the only address its gateway trusts as a proxy
    # (GATEWAY_TRUSTED_PROXIES), so a browser on 127.0.0.1 cannot write its own X-Forwarded-For.
    api_local_address: str | None = None
    api_timeout_seconds: float = 30.0
    # A signed-in session ends after this long without a request (the refresh token's own
    # 30 days are the outer limit); a signed-out one (a form's CSRF token) after the second.
    session_idle_minutes: int = Field(8 * 60, gt=0)
    anonymous_session_minutes: int = Field(60, gt=0)
    # An access token this close to its expiry is refreshed before it is used.
    refresh_leeway_seconds: float = Field(30.0, ge=0)
    # The per-session refresh lock: held at most this long (a crashed holder frees it by then),
    # and how long another request of the session waits for the holder's result.
    refresh_lock_seconds: float = Field(10.0, gt=0)
