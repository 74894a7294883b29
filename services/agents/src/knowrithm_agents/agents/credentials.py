"""`rpc.agents.credentials.v1`: the decrypted provider keys of an agent's effective settings.

Ingestion (embeddings) and conversations (the LLM) call it when they need a hosted provider.
Keys never travel in events and are never logged; this request-reply stays inside the cluster
(NATS is not reachable from outside: NetworkPolicy).
"""

from __future__ import annotations

from knowrithm_agents.agents import repository
from knowrithm_agents.config import AgentsSettings
from knowrithm_agents.effective import effective_settings
from knowrithm_agents.settings.service import plain_keys
from knowrithm_common.db.session import Database
from knowrithm_common.errors import AgentNotFound
from knowrithm_common.queries import AgentCredentialsReply, AgentCredentialsRequest


async def agent_credentials(
    db: Database, settings: AgentsSettings, request: AgentCredentialsRequest
) -> AgentCredentialsReply:
    """The keys of the settings the company's agent runs with; empty when it has none."""
    async with db.sessions() as session:
        agent = await repository.get(session, request.agent_id, company_id=request.company_id)
        if agent is None:
            raise AgentNotFound()
        chosen = await effective_settings(session, agent)
    if chosen is None:
        return AgentCredentialsReply()
    keys = plain_keys(settings.secret_box(), chosen)
    return AgentCredentialsReply(
        settings_id=chosen.id, llm_api_key=keys["llm"], embedding_api_key=keys["embedding"]
    )
