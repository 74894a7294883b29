"""Which handler of a projection module applies which event type.

A module declares `projections = Projections()` and registers each handler with the event
types it applies: `@projections.of(CompanyCreatedV1)`. The handler receives the envelope and
its payload, validated as that event's model (or `payload=` for several event types sharing
one shape); handlers.py gathers every module's handlers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.events import EventData, EventEnvelope
from knowrithm_common.messaging.consumer import Handler

Apply = Callable[[AsyncSession, EventEnvelope, Any], Awaitable[None]]


class Projections:
    """The handlers of one projection module, by event type."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def of(
        self, *events: type[EventData], payload: type[BaseModel] | None = None
    ) -> Callable[[Apply], Apply]:
        """Register the decorated handler for `events` (payloads validated as `payload`, else
        as each event's own model)."""

        def register(apply: Apply) -> Apply:
            for event in events:
                self.handlers[event.event_type] = _validating(apply, payload or event)
            return apply

        return register


def _validating(apply: Apply, model: type[BaseModel]) -> Handler:
    async def handle(session: AsyncSession, event: EventEnvelope) -> None:
        await apply(session, event, model.model_validate(event.data))

    handle.__name__ = handle.__qualname__ = getattr(apply, "__name__", "handle")
    return handle
