"""An agent's effective configuration: its own settings over its company's, and the snapshots
its events carry.

`effective_settings` is what other code calls to know which LLM and embedding an agent uses.
`snapshots` resolves many agents at once; `publish_changes` compares before and after and
records an AgentUpdatedV1 for every agent whose state changed (with `reembed_required`).
Every agent event goes through `record_agent_event`, which stamps its time on the agent: the
version `rpc.agents.agent.v1` answers with, so an answer applies exactly like that event.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_agents.models import Agent, LlmSettings, Provider, ProviderModel, outbox
from knowrithm_common.events import Actor
from knowrithm_common.events.agents import AgentConfiguration, AgentSnapshot, AgentUpdatedV1
from knowrithm_common.events.envelope import EventData

EMBEDDING_FIELDS = ("embedding_provider_id", "embedding_model_id", "embedding_dimension")


async def company_default(session: AsyncSession, company_id: uuid.UUID) -> LlmSettings | None:
    """The company's settings agents fall back to: the default one, else the newest active one."""
    return await session.scalar(
        select(LlmSettings)
        .where(
            LlmSettings.company_id == company_id,
            LlmSettings.agent_id.is_(None),
            LlmSettings.is_active.is_(True),
            LlmSettings.not_deleted(),
        )
        .order_by(LlmSettings.is_default.desc(), LlmSettings.created_at.desc(), LlmSettings.id)
        .limit(1)
    )


async def agent_settings(
    session: AsyncSession, agent_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, LlmSettings]:
    """The live, active agent-level settings of these agents."""
    rows = await session.scalars(
        select(LlmSettings).where(
            LlmSettings.agent_id.in_(list(agent_ids)),
            LlmSettings.is_active.is_(True),
            LlmSettings.not_deleted(),
        )
    )
    return {s.agent_id: s for s in rows if s.agent_id is not None}


async def effective_settings(session: AsyncSession, agent: Agent) -> LlmSettings | None:
    """The settings an agent runs with: its own, else its company's default, else None."""
    own = (await agent_settings(session, [agent.id])).get(agent.id)
    return own if own is not None else await company_default(session, agent.company_id)


async def configurations(
    session: AsyncSession, rows: Iterable[LlmSettings]
) -> dict[uuid.UUID, AgentConfiguration]:
    """The resolved configuration of each settings row (catalogue names, effective base URLs)."""
    rows = list(rows)
    provider_ids = {s.llm_provider_id for s in rows} | {s.embedding_provider_id for s in rows}
    model_ids = {s.llm_model_id for s in rows} | {s.embedding_model_id for s in rows}
    providers = {
        p.id: p for p in await session.scalars(select(Provider).where(Provider.id.in_(provider_ids)))
    }
    models = {
        m.id: m for m in await session.scalars(select(ProviderModel).where(ProviderModel.id.in_(model_ids)))
    }
    out = {}
    for s in rows:
        out[s.id] = AgentConfiguration(
            settings_id=s.id,
            settings_level="agent" if s.agent_id else "company",
            **_resolved(s, "llm", providers, models),
            llm_temperature=s.llm_temperature,
            llm_max_tokens=s.llm_max_tokens,
            **_resolved(s, "embedding", providers, models),
            embedding_dimension=s.embedding_dimension,
        )
    return out


def _resolved(
    s: LlmSettings, kind: str, providers: dict[uuid.UUID, Provider], models: dict[uuid.UUID, ProviderModel]
) -> dict[str, Any]:
    """The llm_* or embedding_* choice of a settings row by catalogue names, base URL defaulted."""
    provider = providers[getattr(s, f"{kind}_provider_id")]
    model_id = getattr(s, f"{kind}_model_id")
    return {
        f"{kind}_provider_id": provider.id,
        f"{kind}_provider": provider.value,
        f"{kind}_model_id": model_id,
        f"{kind}_model": models[model_id].name,
        f"{kind}_api_base_url": getattr(s, f"{kind}_api_base_url") or provider.default_base_url,
        f"{kind}_additional_params": dict(getattr(s, f"{kind}_additional_params")),
    }


async def snapshots(session: AsyncSession, agents: Iterable[Agent]) -> dict[uuid.UUID, AgentSnapshot]:
    """Each agent's fields and resolved configuration, with few queries."""
    agents = list(agents)
    own = await agent_settings(session, [a.id for a in agents])
    defaults = {
        c: await company_default(session, c) for c in {a.company_id for a in agents if a.id not in own}
    }
    chosen = {a.id: own.get(a.id) or defaults.get(a.company_id) for a in agents}
    configs = await configurations(session, [s for s in chosen.values() if s is not None])
    out: dict[uuid.UUID, AgentSnapshot] = {}
    for agent in agents:
        settings = chosen[agent.id]
        out[agent.id] = snapshot_of(agent, configs.get(settings.id) if settings is not None else None)
    return out


# The agent's own columns a snapshot carries (pydantic copies the JSON ones: a later change of
# the agent does not reach a snapshot taken before it).
SNAPSHOT_COLUMNS = tuple(f for f in AgentSnapshot.model_fields if f not in ("agent_id", "configuration"))


def snapshot_of(agent: Agent, configuration: AgentConfiguration | None) -> AgentSnapshot:
    """The agent's fields with the configuration it runs with."""
    columns = {f: getattr(agent, f) for f in SNAPSHOT_COLUMNS}
    return AgentSnapshot(agent_id=agent.id, configuration=configuration, **columns)


async def snapshot(session: AsyncSession, agent: Agent) -> AgentSnapshot:
    return (await snapshots(session, [agent]))[agent.id]


def reembed_required(before: AgentSnapshot | None, after: AgentSnapshot) -> bool:
    """Whether the effective embedding (provider, model, dimension) changed."""
    old = before.configuration if before else None
    new = after.configuration
    if old is None or new is None:
        return False  # nothing was embedded without a configuration, and nothing will be without one
    return any(getattr(old, f) != getattr(new, f) for f in EMBEDDING_FIELDS)


async def live_agents(
    session: AsyncSession, company_id: uuid.UUID, agent_id: uuid.UUID | None = None
) -> list[Agent]:
    query = select(Agent).where(Agent.company_id == company_id, Agent.not_deleted())
    if agent_id is not None:
        query = query.where(Agent.id == agent_id)
    return list((await session.scalars(query)).all())


async def publish_changes(
    session: AsyncSession, before: dict[uuid.UUID, AgentSnapshot], agents: Iterable[Agent], *, actor: Actor
) -> dict[uuid.UUID, AgentSnapshot]:
    """Record an AgentUpdatedV1 for each agent whose snapshot differs from `before`; answers the new ones."""
    await session.flush()
    agents = list(agents)
    after = await snapshots(session, agents)
    for agent in agents:
        old, now = before.get(agent.id), after[agent.id]
        if old is None or old != now:
            event = AgentUpdatedV1(**now.model_dump(), reembed_required=reembed_required(old, now))
            await record_agent_event(session, agent, event, actor=actor)
    return after


async def record_agent_event(session: AsyncSession, agent: Agent, data: EventData, *, actor: Actor) -> None:
    """Record an agent event in the outbox and stamp its time on the agent."""
    envelope = await outbox.add(session, data, company_id=agent.company_id, actor=actor)
    agent.event_time = envelope.time
    await session.flush()  # the answer shows the agent as stored (its updated_at moves with the stamp)
