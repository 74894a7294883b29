"""Helpers of the conversations tests: principals, agents in the projection, stored messages."""

from __future__ import annotations

import datetime as dt
import uuid

from knowrithm_common.identity import Principal


def admin(company_id: uuid.UUID) -> Principal:
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company_id, role="admin")


def member(company_id: uuid.UUID) -> Principal:
    return Principal(kind="user", user_id=uuid.uuid4(), company_id=company_id, role="user")


def api_key(owner: Principal, *, scopes: list[str] | None = None) -> Principal:
    """An API key of `owner` (it acts as its owner, with the owner's role)."""
    return Principal(kind="api_key", user_id=owner.user_id, company_id=owner.company_id, role=owner.role,
                     api_key_id=uuid.uuid4(), scopes=scopes if scopes is not None else ["read", "write"])


async def lead(app, company_id: uuid.UUID) -> Principal:
    """A registered widget visitor (a live lead row) and its principal."""
    from knowrithm_conversations.models import Lead

    lead_id = uuid.uuid4()
    async with app.state.db.sessions() as session, session.begin():
        session.add(Lead(id=lead_id, company_id=company_id, first_name="Visitor", consent_data_processing=True))
    return Principal(kind="lead", lead_id=lead_id, company_id=company_id, role="lead")


def agent_snapshot(*, company_id: uuid.UUID | None = None, agent_id: uuid.UUID | None = None,
                   status: str = "active", name: str | None = None):
    """An agent as the agents service describes it (events and its state query), on the offline models."""
    from knowrithm_common.events.agents import AgentConfiguration, AgentSnapshot

    agent_id = agent_id or uuid.uuid4()
    config = AgentConfiguration(
        settings_id=uuid.uuid4(), settings_level="company", llm_provider_id=uuid.uuid4(), llm_provider="offline",
        llm_model_id=uuid.uuid4(), llm_model="extractive-responder", llm_api_base_url=None, llm_temperature=0.2,
        llm_max_tokens=512, embedding_provider_id=uuid.uuid4(), embedding_provider="offline",
        embedding_model_id=uuid.uuid4(), embedding_model="offline-embedder", embedding_api_base_url=None,
        embedding_dimension=384,
    )
    return AgentSnapshot(agent_id=agent_id, company_id=company_id or uuid.uuid4(),
                         name=name or f"agent-{agent_id.hex[:6]}", status=status, configuration=config)


async def add_agent(app, company_id: uuid.UUID | None = None, status: str = "active", *,
                    name: str | None = None) -> tuple[uuid.UUID, uuid.UUID]:
    """Apply an agents.agent.created.v1 event to the projection, as the consumer would."""
    from knowrithm_common.events import new_event
    from knowrithm_common.events.agents import AgentCreatedV1

    snapshot = agent_snapshot(company_id=company_id, status=status, name=name)
    envelope = new_event(AgentCreatedV1(**snapshot.model_dump()), source="agents", company_id=snapshot.company_id)
    async with app.state.db.sessions() as session, session.begin():
        await apply_agent_event(session, envelope)
    return snapshot.company_id, snapshot.agent_id


async def add_messages(app, conversation_id: uuid.UUID | str, count: int) -> list[uuid.UUID]:
    """Store `count` alternating user/assistant messages a second apart, as a chat would have."""
    from sqlalchemy import select

    from knowrithm_conversations.models import Conversation, Message

    conversation_id = uuid.UUID(str(conversation_id))
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    async with app.state.db.sessions() as session, session.begin():
        conversation = await session.scalar(select(Conversation).where(Conversation.id == conversation_id))
        messages = [
            Message(id=uuid.uuid4(), conversation_id=conversation_id, company_id=conversation.company_id,
                    agent_id=conversation.agent_id, role="user" if n % 2 == 0 else "assistant",
                    content=f"message {n}", status="complete", input_tokens=10, output_tokens=5 * (n % 2),
                    latency_ms=1500 if n % 2 else None, model_used="extractive-responder" if n % 2 else None,
                    created_at=start + dt.timedelta(seconds=n))
            for n in range(count)
        ]
        session.add_all(messages)
        conversation.message_count += count
    return [m.id for m in messages]


async def apply_agent_event(session, envelope) -> None:
    """Apply an agent event to the projection, as its consumer would (the projection's handlers)."""
    from knowrithm_conversations.agents.handlers import HANDLERS

    await HANDLERS[envelope.type](session, envelope)
