"""`rpc.agents.credentials.v1`: the decrypted provider keys of an agent's effective settings.

Ingestion (embeddings) and conversations (the LLM) call it when they need a hosted provider.
Keys never travel in events and are never logged; this request-reply stays inside the cluster
(NATS is not reachable from outside: NetworkPolicy).
"""

from __future__ import annotations

from fastapi import FastAPI

from knowrithm_agents.agents import repository
from knowrithm_agents.config import AgentsSettings
from knowrithm_agents.configuration import effective_settings
from knowrithm_common.crypto import SecretBox
from knowrithm_common.db.session import Database
from knowrithm_common.errors import NotFound
from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import (
    AGENT_CREDENTIALS_SUBJECT,
    AgentCredentialsReply,
    AgentCredentialsRequest,
)


class AgentNotFound(NotFound):
    code, message = "agent_not_found", "Agent not found"


def _plain(box: SecretBox, ciphertext: str | None) -> str | None:
    return box.decrypt(ciphertext) if ciphertext else None


def credentials_responder(app: FastAPI) -> RpcResponder[AgentCredentialsRequest, AgentCredentialsReply]:
    """The responder answering credential requests from this process (queue group `agents`)."""
    settings: AgentsSettings = app.state.settings
    db: Database = app.state.db

    async def answer(request: AgentCredentialsRequest) -> AgentCredentialsReply:
        async with db.sessions() as session:
            agent = await repository.get(session, request.agent_id, company_id=request.company_id)
            if agent is None:
                raise AgentNotFound()
            chosen = await effective_settings(session, agent)
        if chosen is None:
            return AgentCredentialsReply()
        box = settings.secret_box()
        return AgentCredentialsReply(
            settings_id=chosen.id,
            llm_api_key=_plain(box, chosen.llm_api_key_encrypted),
            embedding_api_key=_plain(box, chosen.embedding_api_key_encrypted),
        )

    return RpcResponder(
        nats=app.state.nats,
        subject=AGENT_CREDENTIALS_SUBJECT,
        queue="agents",
        request=AgentCredentialsRequest,
        handler=answer,
    )
