"""Settings base shared by every service: environment, datastores, keys, telemetry."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

# Values that may only ever be used on a developer's machine. Any setting still holding one of
# these outside `development` is refused at start-up, so a forgotten secret fails loudly.
INSECURE_DEFAULTS = frozenset({"", "changeme", "change-me", "secret", "dev-insecure"})


class InsecureSettingsError(ValueError):
    """A secret setting still holds a development default outside development."""


class BaseServiceSettings(BaseSettings):
    """Settings every Knowrithm process reads; services subclass with their own env prefix."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    # Fields listed here are secrets: refused when empty or default outside development.
    secret_fields: ClassVar[tuple[str, ...]] = ()

    service_name: ClassVar[str] = "knowrithm"

    # Shared variables carry explicit names so a service's env prefix does not apply to them.
    knowrithm_env: Environment = Field("production", validation_alias="KNOWRITHM_ENV")
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/knowrithm", validation_alias="DATABASE_URL"
    )
    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias="NATS_URL")
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    knowrithm_assertion_public_key: SecretStr = Field(
        SecretStr(""), validation_alias="KNOWRITHM_ASSERTION_PUBLIC_KEY"
    )
    otel_exporter_otlp_endpoint: str | None = Field(None, validation_alias="OTEL_EXPORTER_OTLP_ENDPOINT")
    db_pool_size: int = 5
    outbox_poll_seconds: float = 1.0
    # How often a process honouring system-configuration entries re-reads them from Redis.
    system_config_refresh_seconds: float = Field(1.0, gt=0, validation_alias="SYSTEM_CONFIG_REFRESH_SECONDS")

    @property
    def is_development(self) -> bool:
        return self.knowrithm_env == "development"

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> BaseServiceSettings:
        if self.is_development:
            return self
        for name in self.secret_fields:
            value: Any = getattr(self, name)
            raw = value.get_secret_value() if isinstance(value, SecretStr) else value
            if raw is None or str(raw).strip() in INSECURE_DEFAULTS:
                raise InsecureSettingsError(
                    f"{name.upper()} is unset or a development default; "
                    f"set a real value (KNOWRITHM_ENV={self.knowrithm_env})"
                )
        return self

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the psycopg 3 driver selected."""
        return to_psycopg_url(self.database_url)


def to_psycopg_url(url: str) -> str:
    """Rewrite postgres:// or postgresql:// URLs to SQLAlchemy's psycopg 3 dialect."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
