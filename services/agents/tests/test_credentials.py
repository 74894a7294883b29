"""`rpc.agents.credentials.v1` over the embedded NATS: the decrypted keys of an agent's
effective settings, for the services that call providers; never another company's."""

import uuid

import pytest

from knowrithm_common.messaging.rpc import RpcFailed, call
from knowrithm_common.queries import AGENT_CREDENTIALS_SUBJECT, AgentCredentialsReply, AgentCredentialsRequest

from .support import OFFLINE, catalogue, company_principals, ids


async def ask(client, company_id, agent_id) -> AgentCredentialsReply:
    request = AgentCredentialsRequest(company_id=company_id, agent_id=agent_id)
    return await call(client.app.state.nats, AGENT_CREDENTIALS_SUBJECT, request, AgentCredentialsReply)


async def test_credentials_follow_the_agents_effective_settings(client, call):
    cat = await catalogue(call)
    company, admin, _ = company_principals()
    body = {**ids(cat, *OFFLINE), "embedding_api_key": "emb-company-5555", "is_default": True}
    assert (await call("POST", "/api/v1/settings", admin, json=body)).status_code == 201
    agent = (await call("POST", "/api/v1/agent", admin, json={"name": "Keys"})).json()

    reply = await ask(client, company, uuid.UUID(agent["id"]))
    assert reply.embedding_api_key == "emb-company-5555" and reply.llm_api_key is None

    own = {**ids(cat, *OFFLINE), "agent_id": agent["id"], "llm_api_key": "llm-agent-7777"}
    assert (await call("POST", "/api/v1/settings", admin, json=own)).status_code == 201
    reply = await ask(client, company, uuid.UUID(agent["id"]))
    assert reply.llm_api_key == "llm-agent-7777" and reply.embedding_api_key is None


async def test_another_companys_agent_is_not_found(client, call):
    cat = await catalogue(call)
    _, admin, _ = company_principals()
    await call("POST", "/api/v1/settings", admin, json={**ids(cat, *OFFLINE), "is_default": True})
    agent = (await call("POST", "/api/v1/agent", admin, json={"name": "Mine"})).json()
    with pytest.raises(RpcFailed) as failure:
        await ask(client, uuid.uuid4(), uuid.UUID(agent["id"]))
    assert failure.value.code == "agent_not_found"
