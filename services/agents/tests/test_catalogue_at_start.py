"""The built-in catalogue is there from the first start: the agents service adds what the
catalogue has never had when it starts (every replica, safely at once), and leaves a super
admin's edits and deletions alone. Each test starts on a fresh, migrated database."""

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from knowrithm_agents.models import Provider, ProviderModel
from knowrithm_agents.providers.seed import CATALOGUE, add_missing_builtins
from knowrithm_common.db.migrations import upgrade
from knowrithm_common.db.session import Database
from knowrithm_common.testing import assertion_headers, environment, running_app

from .support import SUPER, company_principals

BUILT_IN_MODELS = sum(len(p["models"]) for p in CATALOGUE)


@pytest.fixture
def fresh_env(stack, agents_env) -> dict[str, str]:
    url = stack.create_database(f"agents_fresh_{uuid.uuid4().hex[:8]}")
    upgrade(package="knowrithm_agents", schema="agents", url=url)
    return {**agents_env, "DATABASE_URL": url}


def started(env):
    from knowrithm_agents.main import create_app

    with environment(env):
        app = create_app()
    return running_app(app)


async def providers(client, signer) -> dict[str, dict]:
    r = await client.get("/api/v1/providers?include_models=true", headers=assertion_headers(signer, SUPER))
    assert r.status_code == 200, r.text
    return {p["value"]: p for p in r.json()["providers"]}


async def test_a_new_company_creates_an_offline_agent_on_a_fresh_installation_with_no_other_step(
    fresh_env, signer
):
    _, admin, _ = company_principals()
    body = {"name": "First bot", "settings": {
        "llm_provider": "offline", "llm_model": "extractive-responder",
        "embedding_provider": "offline", "embedding_model": "offline-embedder"}}
    async with started(fresh_env) as client:
        r = await client.post("/api/v1/sdk/agent", json=body, headers=assertion_headers(signer, admin))
        assert r.status_code == 201, r.text
        listed = await providers(client, signer)
    assert {"gemini", "openai-compatible", "offline"} <= listed.keys()
    assert {m["name"] for m in listed["offline"]["models"]} == {"extractive-responder", "offline-embedder"}


async def test_replicas_starting_together_create_each_built_in_entry_once(fresh_env):
    databases = [Database(fresh_env["DATABASE_URL"], schema="agents") for _ in range(3)]

    async def seed(db):
        async with db.session() as session, session.begin():
            return await add_missing_builtins(session)

    try:
        counts = await asyncio.gather(*(seed(db) for db in databases))
        async with databases[0].sessions() as session:
            values = (await session.execute(select(Provider.value, func.count()).group_by(Provider.value))).all()
            models = await session.scalar(select(func.count()).select_from(ProviderModel))
    finally:
        for db in databases:
            await db.dispose()
    assert sorted(c.providers_created for c in counts) == [0, 0, len(CATALOGUE)]
    assert dict(values) == {p["value"]: 1 for p in CATALOGUE} and models == BUILT_IN_MODELS


async def test_a_restart_keeps_a_super_admins_edits_and_deletions(fresh_env, signer):
    root = assertion_headers(signer, SUPER)
    async with started(fresh_env) as client:
        listed = await providers(client, signer)
        gemini, compatible = listed["gemini"], listed["openai-compatible"]
        gpt4o = next(m for m in compatible["models"] if m["name"] == "gpt-4o")
        r = await client.put(f"/api/v1/providers/{gemini['id']}", json={"label": "Gemini (ours)"}, headers=root)
        assert r.status_code == 200, r.text
        r = await client.delete(f"/api/v1/providers/{compatible['id']}/models/{gpt4o['id']}", headers=root)
        assert r.status_code == 200, r.text
        assert (await client.delete(f"/api/v1/providers/{listed['offline']['id']}", headers=root)).status_code == 200
    async with started(fresh_env) as client:
        again = await providers(client, signer)
    assert again["gemini"]["label"] == "Gemini (ours)"
    assert "gpt-4o" not in {m["name"] for m in again["openai-compatible"]["models"]}
    assert "offline" not in again  # deleted on purpose: not brought back
