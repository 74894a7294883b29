"""Events published by the agents service.

Agent events carry the agent's resolved configuration (its fields plus the effective LLM and
embedding settings: agent-level over company-level), so conversations and ingestion keep a
local projection from the events alone. API keys never travel in events.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from knowrithm_common.events.envelope import EventData


class AgentConfiguration(BaseModel):
    """The effective LLM and embedding settings of an agent (no API keys)."""

    settings_id: uuid.UUID
    settings_level: str = Field(description="agent | company: where the effective settings come from")
    llm_provider_id: uuid.UUID
    llm_provider: str = Field(description="provider value, e.g. gemini")
    llm_model_id: uuid.UUID
    llm_model: str = Field(description="model name, e.g. gemini-2.5-flash")
    llm_api_base_url: str | None = Field(description="the settings' base URL, else the provider's default")
    llm_temperature: float
    llm_max_tokens: int
    llm_additional_params: dict[str, Any] = Field(default_factory=dict)
    embedding_provider_id: uuid.UUID
    embedding_provider: str
    embedding_model_id: uuid.UUID
    embedding_model: str
    embedding_api_base_url: str | None
    embedding_dimension: int
    embedding_additional_params: dict[str, Any] = Field(default_factory=dict)


class AgentSnapshot(BaseModel):
    """An agent as other services need it: its fields and its resolved configuration."""

    agent_id: uuid.UUID
    company_id: uuid.UUID
    name: str
    description: str | None = None
    avatar_url: str | None = None
    status: str
    personality_traits: dict[str, Any] = Field(default_factory=dict)
    capabilities: list[Any] = Field(default_factory=list)
    languages: list[Any] = Field(default_factory=list)
    operating_hours: dict[str, Any] = Field(default_factory=dict)
    widget_config: dict[str, Any] = Field(default_factory=dict)
    widget_script_url: str | None = None
    configuration: AgentConfiguration | None = Field(
        None, description="null when neither the agent nor its company has settings"
    )


class AgentCreatedV1(AgentSnapshot, EventData):
    """An agent was created (or cloned)."""

    event_type: ClassVar[str] = "agents.agent.created.v1"

    cloned_from: uuid.UUID | None = None


class AgentUpdatedV1(AgentSnapshot, EventData):
    """An agent's fields or effective settings changed; the payload is its whole new state.

    `reembed_required` is true when the effective embedding provider, model or dimension
    changed: its knowledge must be embedded again (ingestion acts on it).
    """

    event_type: ClassVar[str] = "agents.agent.updated.v1"

    reembed_required: bool = False


class AgentDeletedV1(AgentSnapshot, EventData):
    """An agent was soft-deleted (restorable): stop serving it."""

    event_type: ClassVar[str] = "agents.agent.deleted.v1"


class AgentRestoredV1(AgentSnapshot, EventData):
    """A soft-deleted agent was restored; the payload is its state now."""

    event_type: ClassVar[str] = "agents.agent.restored.v1"


class SettingsChangedV1(EventData):
    """LLM/embedding settings of a company (agent_id null) or an agent were created, changed or deleted.

    Agents whose effective configuration changed with it also get an AgentUpdatedV1.
    """

    event_type: ClassVar[str] = "agents.settings.changed.v1"

    settings_id: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID | None
    change: str = Field(description="created | updated | deleted")
    is_default: bool
    llm_provider: str
    llm_model: str
    embedding_provider: str
    embedding_model: str
    embedding_dimension: int
