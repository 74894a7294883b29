"""Agents settings: shared variables plus ENCRYPTION_KEY (provider API keys at rest) and BASE_URL."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from knowrithm_common.crypto import SecretBox
from knowrithm_common.settings import BaseServiceSettings


class AgentsSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGENTS_", extra="ignore", populate_by_name=True)
    secret_fields: ClassVar[tuple[str, ...]] = ("encryption_key",)

    # Fernet key(s), comma-separated newest first; encrypts the provider API keys of settings.
    encryption_key: SecretStr = Field(SecretStr(""), validation_alias="ENCRYPTION_KEY")
    # Where the platform is reached from outside: the embed code loads {base_url}/widget.js.
    base_url: str = Field("http://127.0.0.1:8543", validation_alias="BASE_URL")
    # The settings test call gives up on a provider after this long (never hangs).
    provider_timeout_seconds: float = 10.0

    def secret_box(self) -> SecretBox:
        return SecretBox(self.encryption_key.get_secret_value())
