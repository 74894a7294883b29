"""Request and response models of agents (field names from the Knowrithm API).

Settings fields in a request make (or change) the agent's own settings row; responses carry the
agent's effective configuration (catalogue names, no API keys).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from knowrithm_agents.models import Agent
from knowrithm_agents.settings.schemas import (
    ByName,
    Name,
    Params,
    PartialSettingsFields,
    PartialTunables,
    TunableFields,
    Url,
)
from knowrithm_common.events.agents import AgentConfiguration, AgentSnapshot
from knowrithm_common.pagination import Pagination

AgentName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Status = Literal["active", "inactive", "training", "maintenance"]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Tags = Annotated[list[Tag], Field(max_length=100)]

IDS = ("llm_provider_id", "llm_model_id", "embedding_provider_id", "embedding_model_id")
SettingsId = Annotated[
    uuid.UUID | None,
    Field(description="Existing settings of the company: the agent gets a copy of them as its own"),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SettingsInput(PartialSettingsFields):
    """The agent-level settings fields a create or update body may carry (ids and tunables)."""

    model_config = ConfigDict(extra="forbid")

    def settings_changes(self) -> dict[str, Any]:
        """The settings fields the caller gave (a null key means: remove it)."""
        return self.model_dump(include=self.model_fields_set & set(SettingsInput.model_fields))


class AgentFields(Strict):
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    avatar_url: Url | None = None
    status: Status = "active"
    personality_traits: Params = {}
    capabilities: Tags = []
    languages: Tags = ["en"]
    operating_hours: Params = {}
    widget_config: Params = {}
    widget_script_url: Url | None = None


class AgentCreate(AgentFields, SettingsInput):
    name: AgentName
    company_id: uuid.UUID | None = Field(None, description="Target company (super admin only)")

    def agent_fields(self) -> dict[str, Any]:
        """The agent's own fields (not its settings, not the company it goes to)."""
        own = set(AgentCreate.model_fields) - set(SettingsInput.model_fields) - {"company_id"}
        return self.model_dump(include=own)


class AgentChanges(Strict):
    """A partial update of an agent's fields: absent fields stay."""

    llm_settings_id: SettingsId = None
    name: AgentName | None = None
    description: Annotated[str, StringConstraints(max_length=5000)] | None = None
    avatar_url: Url | None = None
    status: Status | None = None
    personality_traits: Params | None = None
    capabilities: Tags | None = None
    languages: Tags | None = None
    operating_hours: Params | None = None
    widget_config: Params | None = None
    widget_script_url: Url | None = None

    def agent_changes(self) -> dict[str, Any]:
        """The agent fields the caller gave (`llm_settings_id` is a settings choice, not a field)."""
        fields = set(AgentChanges.model_fields) - {"llm_settings_id"}
        return self.model_dump(include=self.model_fields_set & fields)


class AgentUpdate(SettingsInput, AgentChanges):
    """A partial update: absent fields stay; settings fields change the agent's own settings."""


class CloneBody(Strict):
    name: AgentName | None = Field(None, description="Defaults to '<name> (copy)'")
    llm_settings_id: SettingsId = None


class SdkSettings(ByName, TunableFields):
    """Settings naming the provider (its value) and model (its name) instead of ids; the widget
    fields the reference API lists here are the agent's (used when the body has none of its own)."""

    model_config = ConfigDict(extra="forbid")

    widget_config: Params | None = None
    widget_script_url: Url | None = None


class SdkSettingsUpdate(Strict, PartialTunables):
    """A partial by-name settings change; a model named without its provider keeps the current provider."""

    llm_provider: Name | None = None
    llm_model: Name | None = None
    embedding_provider: Name | None = None
    embedding_model: Name | None = None


class SdkAgentCreate(AgentCreate):
    """`settings` names providers and models; without it the body is POST /agent's (catalogue ids or
    the company's settings), which is what the official SDK's `create_agent` sends here."""

    settings: SdkSettings | None = None

    @model_validator(mode="after")
    def _one_way_to_give_settings(self) -> SdkAgentCreate:
        flat = self.model_fields_set & set(SettingsInput.model_fields)
        if self.settings is not None and flat:
            raise ValueError(
                f"give settings either in `settings` (by name) or as {', '.join(sorted(flat))}, not both"
            )
        return self


class SdkAgentUpdate(AgentChanges):
    settings: SdkSettingsUpdate | None = None


class AgentOut(BaseModel):
    id: uuid.UUID
    company_id: uuid.UUID
    name: str
    description: str | None
    avatar_url: str | None
    status: str
    personality_traits: dict[str, Any]
    capabilities: list[Any]
    languages: list[Any]
    operating_hours: dict[str, Any]
    widget_config: dict[str, Any]
    widget_script_url: str | None
    configuration: AgentConfiguration | None = Field(
        description="The effective LLM and embedding settings (agent over company); never API keys"
    )
    created_at: dt.datetime
    updated_at: dt.datetime

    @classmethod
    def of(cls, agent: Agent, snapshot: AgentSnapshot) -> AgentOut:
        """The agent as its snapshot describes it (configuration included), with its id and times."""
        fields = {f: getattr(snapshot, f) for f in AgentSnapshot.model_fields if f != "agent_id"}
        return cls(**fields, id=agent.id, created_at=agent.created_at, updated_at=agent.updated_at)


class AgentListOut(BaseModel):
    agents: list[AgentOut]
    pagination: Pagination


class DeletedAgentOut(AgentOut):
    deleted_at: dt.datetime = Field(description="When the agent was deleted")

    @classmethod
    def deleted(cls, agent: Agent, snapshot: AgentSnapshot) -> DeletedAgentOut:
        """A soft-deleted agent as `AgentOut` describes it, with its deletion time."""
        assert agent.deleted_at is not None
        return cls(**AgentOut.of(agent, snapshot).model_dump(), deleted_at=agent.deleted_at)


class DeletedAgentListOut(BaseModel):
    deleted_agents: list[DeletedAgentOut]
    pagination: Pagination


class EmbedCodeOut(BaseModel):
    agent_id: uuid.UUID
    embed_code: str = Field(description="The HTML snippet to paste into a page")
    script_url: str
    base_url: str
    widget_config: dict[str, Any]
