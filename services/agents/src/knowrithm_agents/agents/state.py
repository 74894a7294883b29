"""`rpc.agents.agent.v1`: an agent's current state, for a projection that has not caught up.

Ingestion and conversations keep agents from `events.agents.agent.*`; when a client uses an
agent they have not seen yet (it was created a moment ago), they ask here and apply the answer
as they would the event (docs/architecture.md, "Read-your-writes"). The answer is the state of
the agent's newest event with that event's time as its version, read in one snapshot
(REPEATABLE READ: the agent, its settings and the catalogue as of one instant), so applying it
early and then the event itself changes nothing twice.
"""

from __future__ import annotations

from knowrithm_agents.effective import snapshot
from knowrithm_agents.models import Agent
from knowrithm_common.db.session import Database
from knowrithm_common.queries import AgentStateReply, AgentStateRequest


async def agent_state(db: Database, request: AgentStateRequest) -> AgentStateReply:
    """The agent's state and version as of its newest event; empty for an agent never created."""
    async with db.session() as session:
        await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        agent = await session.get(Agent, request.agent_id)  # live or soft-deleted
        if agent is None:
            return AgentStateReply()
        return AgentStateReply(
            agent=await snapshot(session, agent),
            deleted=agent.deleted_at is not None,
            version=agent.event_time,
        )
