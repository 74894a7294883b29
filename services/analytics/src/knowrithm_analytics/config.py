"""Analytics settings (env prefix ANALYTICS_; ENCRYPTION_KEY keeps webhook secrets at rest)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from knowrithm_common.crypto import readable_fernet_keys
from knowrithm_common.settings import BaseServiceSettings

PROJECTIONS_CONSUMER = "analytics-projections"
WEBHOOKS_CONSUMER = "analytics-webhooks"


class AnalyticsSettings(BaseServiceSettings):
    """Analytics settings (env prefix ANALYTICS_)."""

    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore", populate_by_name=True)
    secret_fields: ClassVar[tuple[str, ...]] = ("encryption_key",)

    # Fernet key(s), comma-separated newest first: webhook signing secrets at rest.
    encryption_key: SecretStr = Field(SecretStr(""), validation_alias="ENCRYPTION_KEY")

    # The durable consumers' names: their positions in the stream are kept under these names.
    projections_consumer: str = PROJECTIONS_CONSUMER
    webhooks_consumer: str = WEBHOOKS_CONSUMER

    # Webhooks: outgoing deliveries go only to public addresses, except these (CIDRs or
    # host:port, comma-separated; for receivers inside a private network, and for tests).
    webhook_allowlist: str = ""
    webhook_timeout_seconds: float = 10.0
    # Attempts per delivery, and the waits between them (seconds, comma-separated; the last
    # repeats). The delivery is logged `failed` after the last attempt.
    webhook_max_attempts: int = Field(6, ge=1, le=20)
    webhook_backoff_seconds: str = "10,60,300,1800,7200"
    webhook_concurrency: int = Field(16, ge=1)
    webhooks_per_company: int = Field(20, ge=1)
    # Finished deliveries (and the events they carried) are kept this long in the delivery log.
    webhook_delivery_retention_days: int = Field(30, ge=1)

    # The live event stream (GET /api/v1/events/stream) sends a heartbeat comment after this
    # long without an event, so proxies keep it open and a gone client is noticed.
    event_stream_heartbeat_seconds: float = Field(15.0, gt=0)

    # Exports up to this many rows answer at once; bigger ones run as a task with a download.
    export_inline_rows: int = Field(5000, ge=1)
    export_max_rows: int = Field(250_000, ge=1)
    export_ttl_hours: int = Field(24, ge=1)

    # How often the business gauges exported to Prometheus are recomputed from the projections,
    # and how often platform metrics are sampled for `admin/system-metric` (kept `..._days`);
    # each scheduled sample also deletes expired exports and old finished webhook deliveries.
    business_metrics_refresh_seconds: float = Field(15.0, gt=0)
    system_metric_sample_seconds: float = Field(60.0, gt=0)
    system_metric_retention_days: int = Field(7, ge=1)

    # An agent the projection has not seen yet (created a moment ago) is asked of the agents
    # service; no answer within this long is a 503 (retryable), never a 404.
    agents_lookup_timeout_seconds: float = Field(2.0, gt=0)

    base_url: str = Field("http://127.0.0.1:8543", validation_alias="BASE_URL")

    @property
    def webhook_backoff(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.webhook_backoff_seconds.split(",") if x.strip()) or (10.0,)

    @property
    def webhook_allowed(self) -> list[str]:
        return [entry.strip() for entry in self.webhook_allowlist.split(",") if entry.strip()]

    _readable_encryption_key = field_validator("encryption_key")(readable_fernet_keys)
