"""Auth settings: shared variables plus AUTH_-prefixed and the seed's SUPER_ADMIN_* ones."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from knowrithm_common.crypto import SecretBox, readable_fernet_keys
from knowrithm_common.settings import INSECURE_DEFAULTS, BaseServiceSettings, InsecureSettingsError


class AuthSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", populate_by_name=True)
    secret_fields: ClassVar[tuple[str, ...]] = ("jwt_private_key",)

    jwt_private_key: SecretStr = Field(SecretStr(""), validation_alias="KNOWRITHM_JWT_PRIVATE_KEY")
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_days: int = 30
    impersonation_ttl_seconds: int = 900

    # Lock-out: this many failed logins in a row lock the account for `lockout_minutes` (423).
    max_failed_logins: int = 5
    lockout_minutes: int = 15

    verification_ttl_hours: int = 48
    password_reset_ttl_minutes: int = 60

    # API keys: limits when the creator names none.
    api_key_default_per_hour: int = 1000
    api_key_default_per_day: int = 10000
    # Durable consumer of the gateway's usage events (last_used_at, usage_count of keys).
    usage_consumer: str = "auth-api-key-usage"

    # Largest company logo accepted as an uploaded file (413 above it); PNG, JPEG, GIF or WebP.
    max_logo_bytes: int = 512 * 1024

    # Mail: SMTP with the seed's variable names; without SMTP_SERVER mail is written as .eml
    # files to `mail_outbox_dir` (the dev mail outbox).
    smtp_server: str | None = Field(None, validation_alias="SMTP_SERVER")
    smtp_port: int = Field(587, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr = Field(SecretStr(""), validation_alias="SMTP_PASSWORD")
    smtp_sender: str = Field("Knowrithm <no-reply@knowrithm.local>", validation_alias="SMTP_SENDER")
    mail_outbox_dir: str = ".knowrithm/mail"
    # Where links in mails point (the seed's BASE_URL).
    base_url: str = Field("http://127.0.0.1:8543", validation_alias="BASE_URL")

    # System configuration: sensitive entries are stored encrypted with ENCRYPTION_KEY (Fernet,
    # comma-separated newest first); without it they are refused (503). The known keys' snapshot
    # in Redis is written after each change and again this often (a flushed Redis heals).
    encryption_key: SecretStr = Field(SecretStr(""), validation_alias="ENCRYPTION_KEY")
    system_config_republish_seconds: float = Field(5.0, gt=0)

    super_admin_email: str | None = Field(None, validation_alias="SUPER_ADMIN_EMAIL")
    super_admin_username: str = Field("superadmin", validation_alias="SUPER_ADMIN_USERNAME")
    super_admin_first_name: str = Field("Super", validation_alias="SUPER_ADMIN_FIRST_NAME")
    super_admin_last_name: str = Field("Admin", validation_alias="SUPER_ADMIN_LAST_NAME")
    super_admin_password: SecretStr = Field(SecretStr(""), validation_alias="SUPER_ADMIN_PASSWORD")

    _readable_encryption_key = field_validator("encryption_key")(readable_fernet_keys)

    def secret_box(self) -> SecretBox | None:
        """What encrypts sensitive system-configuration values, or None without ENCRYPTION_KEY."""
        keys = self.encryption_key.get_secret_value()
        return SecretBox(keys) if keys.strip() else None

    @model_validator(mode="after")
    def _super_admin_password_is_real(self) -> AuthSettings:
        if not self.super_admin_email:
            return self
        password = self.super_admin_password.get_secret_value()
        if len(password) < 8 or (not self.is_development and password in INSECURE_DEFAULTS):
            raise InsecureSettingsError(
                "SUPER_ADMIN_PASSWORD must be set (8+ characters) when SUPER_ADMIN_EMAIL is"
            )
        return self
