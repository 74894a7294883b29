"""The per-process dependency container of chat (`Deps`, on `app.state.chat`): what the chat
endpoints and the answerer share, built once per process."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI, Request

from knowrithm_common.db.session import Database
from knowrithm_common.messaging.connection import NatsConnection
from knowrithm_conversations.chat.history import History
from knowrithm_conversations.chat.inflight import Inflight
from knowrithm_conversations.chat.streams import StreamHub
from knowrithm_conversations.config import ConversationsSettings


@dataclass
class Deps:
    db: Database
    nats: NatsConnection
    hub: StreamHub
    inflight: Inflight
    history: History
    settings: ConversationsSettings


async def build_deps(app: FastAPI) -> None:
    """Lifespan hook: the stream hub and the in-flight registry (both subscribed), the history store."""
    settings: ConversationsSettings = app.state.settings
    hub = StreamHub(app.state.nats)
    await hub.start()
    inflight = Inflight(app.state.nats)
    await inflight.start()
    history = History(app.state.redis, turns=settings.history_turns, ttl_seconds=settings.history_ttl_seconds)
    app.state.chat = Deps(
        db=app.state.db, nats=app.state.nats, hub=hub, inflight=inflight, history=history, settings=settings
    )


async def close_deps(app: FastAPI) -> None:
    await app.state.chat.hub.stop()
    await app.state.chat.inflight.stop()


def get_deps(request: Request) -> Deps:
    return request.app.state.chat
