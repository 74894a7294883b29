"""Request and response models of LLM and embedding settings (field names from the Knowrithm API).

API keys are accepted, never returned: responses carry `llm_api_key_hint` and
`embedding_api_key_hint` (the last four characters, masked).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints

from knowrithm_agents.models import LlmSettings
from knowrithm_common.events.agents import AgentConfiguration

Url = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500, pattern=r"^https?://\S+$")]
ApiKey = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Temperature = Annotated[float, Field(ge=0, le=2, allow_inf_nan=False)]
MaxTokens = Annotated[int, Field(ge=1, le=2_000_000)]
Dimension = Annotated[int, Field(ge=1, le=65536)]
Params = Annotated[dict[str, Any], Field(max_length=100)]

SECRET_FIELDS = ("llm_api_key", "embedding_api_key")


class TunableFields(BaseModel):
    """Everything of a settings row except which provider and model it uses."""

    llm_api_key: ApiKey | None = None
    llm_api_base_url: Url | None = None
    llm_temperature: Temperature = 0.7
    llm_max_tokens: MaxTokens = 1000
    llm_additional_params: Params = {}
    embedding_api_key: ApiKey | None = None
    embedding_api_base_url: Url | None = None
    embedding_dimension: Dimension | None = Field(None, description="Defaults to the model's dimension")
    embedding_additional_params: Params = {}


class SettingsFields(TunableFields):
    llm_provider_id: uuid.UUID
    llm_model_id: uuid.UUID
    embedding_provider_id: uuid.UUID
    embedding_model_id: uuid.UUID


class SettingsCreate(SettingsFields):
    agent_id: uuid.UUID | None = Field(
        None, description="For agent-level settings; company-level when absent"
    )
    company_id: uuid.UUID | None = Field(None, description="Target company (super admin only)")
    is_default: bool = False
    widget_config: Params = {}
    widget_script_url: Url | None = None


class ByName(BaseModel):
    """Provider and model given by name (the catalogue's provider `value` and model `name`)."""

    llm_provider: Name
    llm_model: Name
    embedding_provider: Name
    embedding_model: Name
    llm_provider_id: uuid.UUID | None = Field(None, description="Optional override of llm_provider")
    llm_model_id: uuid.UUID | None = Field(None, description="Optional override of llm_model")
    embedding_provider_id: uuid.UUID | None = Field(
        None, description="Optional override of embedding_provider"
    )
    embedding_model_id: uuid.UUID | None = Field(None, description="Optional override of embedding_model")


class SdkSettingsCreate(ByName, TunableFields):
    agent_id: uuid.UUID | None = None
    company_id: uuid.UUID | None = None
    is_default: bool = False
    widget_config: Params = {}
    widget_script_url: Url | None = None


class PartialTunables(BaseModel):
    """TunableFields, each optional: for partial updates (absent stays, a null key is removed)."""

    llm_api_key: ApiKey | None = None
    llm_api_base_url: Url | None = None
    llm_temperature: Temperature | None = None
    llm_max_tokens: MaxTokens | None = None
    llm_additional_params: Params | None = None
    embedding_api_key: ApiKey | None = None
    embedding_api_base_url: Url | None = None
    embedding_dimension: Dimension | None = None
    embedding_additional_params: Params | None = None


class PartialSettingsFields(PartialTunables):
    """Every settings field, optional: for partial updates (absent stays, a null key is removed)."""

    llm_provider_id: uuid.UUID | None = None
    llm_model_id: uuid.UUID | None = None
    embedding_provider_id: uuid.UUID | None = None
    embedding_model_id: uuid.UUID | None = None


class SettingsUpdate(PartialSettingsFields):
    """A partial update: absent fields stay; a key given as null is removed."""

    is_default: bool | None = None
    is_active: bool | None = None
    widget_config: Params | None = None
    widget_script_url: Url | None = None

    def changes(self) -> dict[str, Any]:
        return self.model_dump(include=self.model_fields_set)


class SettingsOut(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID | None
    llm_provider_id: uuid.UUID
    llm_provider: str
    llm_model_id: uuid.UUID
    llm_model_name: str
    llm_api_key_hint: str | None = Field(description="The key's last four characters, masked; never the key")
    llm_api_base_url: str | None
    llm_temperature: float
    llm_max_tokens: int
    llm_additional_params: dict[str, Any]
    embedding_provider_id: uuid.UUID
    embedding_provider: str
    embedding_model_id: uuid.UUID
    embedding_model_name: str
    embedding_api_key_hint: str | None
    embedding_api_base_url: str | None
    embedding_dimension: int
    embedding_additional_params: dict[str, Any]
    is_default: bool
    is_active: bool
    widget_config: dict[str, Any]
    widget_script_url: str | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, s: LlmSettings, config: AgentConfiguration) -> SettingsOut:
        names = {
            "llm_provider": config.llm_provider,
            "llm_model_name": config.llm_model,
            "embedding_provider": config.embedding_provider,
            "embedding_model_name": config.embedding_model,
        }
        return cls.model_validate({**{f: getattr(s, f) for f in cls.model_fields if f not in names}, **names})


class SettingsListOut(BaseModel):
    settings: list[SettingsOut]
    total: int


class ProbeResult(BaseModel):
    ok: bool
    provider: str
    model: str
    latency_ms: int | None = None
    error: str | None = Field(
        None, description="provider_auth_failed | provider_unreachable | provider_error"
    )
    status: int | None = Field(None, description="The provider's HTTP status, when it answered")
    message: str | None = None


class SettingsTestOut(BaseModel):
    success: bool = Field(description="True when both the LLM and the embedding call succeeded")
    llm: ProbeResult
    embedding: ProbeResult
