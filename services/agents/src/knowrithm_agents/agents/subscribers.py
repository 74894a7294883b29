"""What the agents domain reacts to: the requests other services send about an agent.

Both answer in the queue group `agents`, so one replica takes each request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import TypeVar

from fastapi import FastAPI
from pydantic import BaseModel

from knowrithm_agents.agents.credentials import agent_credentials
from knowrithm_agents.agents.state import agent_state
from knowrithm_common.messaging.rpc import RpcResponder
from knowrithm_common.queries import (
    AGENT_CREDENTIALS_SUBJECT,
    AGENT_STATE_SUBJECT,
    AgentCredentialsRequest,
    AgentStateRequest,
)
from knowrithm_common.service import Background

Req = TypeVar("Req", bound=BaseModel)
Resp = TypeVar("Resp", bound=BaseModel)


def subscribers(app: FastAPI) -> list[Background]:
    """`rpc.agents.agent.v1` (an agent's state) and `rpc.agents.credentials.v1` (its provider keys)."""
    db, settings = app.state.db, app.state.settings
    return [
        _responder(app, AGENT_STATE_SUBJECT, AgentStateRequest, partial(agent_state, db)),
        _responder(
            app, AGENT_CREDENTIALS_SUBJECT, AgentCredentialsRequest,
            partial(agent_credentials, db, settings),
        ),
    ]


def _responder(
    app: FastAPI, subject: str, request: type[Req], handler: Callable[[Req], Awaitable[Resp]]
) -> RpcResponder[Req, Resp]:
    return RpcResponder(
        nats=app.state.nats, subject=subject, queue="agents", request=request, handler=handler
    )
