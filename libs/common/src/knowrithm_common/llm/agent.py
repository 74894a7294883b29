"""The model an agent answers with: its projected LLM settings plus its key from the agents service.

Projections keep an agent's provider, model, base URL and params (no keys, DESIGN §3); the key is
asked for when a model is about to be called (`rpc.agents.credentials.v1`). Conversations (chat)
and ingestion (text-to-SQL, table summaries) both build their `LlmSpec` here.
"""

from __future__ import annotations

import uuid
from typing import Any

from knowrithm_common.llm.base import LlmError, LlmSpec
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_common.messaging.rpc import RpcFailed, RpcUnavailable
from knowrithm_common.queries import agent_credentials

LOCAL_PROVIDERS = frozenset({"offline"})  # answer without a key or a network


async def agent_llm_spec(
    nats: NatsConnection,
    *,
    company_id: uuid.UUID,
    agent_id: uuid.UUID,
    provider: str | None,
    model: str | None,
    base_url: str | None,
    params: dict[str, Any] | None,
    timeout: float,
) -> LlmSpec:
    """The agent's `LlmSpec` with its key; `LlmError(settings_unavailable)` when the key cannot be read."""
    provider = provider or "offline"
    api_key = None
    if provider not in LOCAL_PROVIDERS:
        try:
            reply = await agent_credentials(nats, company_id=company_id, agent_id=agent_id)
        except (RpcUnavailable, RpcFailed) as exc:
            raise LlmError(
                "The agent's settings could not be read; please ask again", code="settings_unavailable"
            ) from exc
        api_key = reply.llm_api_key
    return LlmSpec(provider=provider, model=model or "", base_url=base_url, api_key=api_key,
                   params=dict(params or {}), timeout=timeout)
