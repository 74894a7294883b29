"""The envelope every event travels in, and the base class of event payloads.

Subjects are `events.<service>.<aggregate>.<verb>.v<N>`; an envelope's `type` is the subject
without the `events.` prefix. A breaking change makes a new versioned class, never an edit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, Field
from uuid6 import uuid7

from knowrithm_common.telemetry import current_traceparent

SUBJECT_PREFIX = "events."


class Actor(BaseModel):
    """Who caused the event."""

    kind: str = "system"
    id: uuid.UUID | None = None
    ip: str | None = None
    user_agent: str | None = None
    # A super admin acting as `id` through an impersonation token.
    impersonator_id: uuid.UUID | None = None


class EventData(BaseModel):
    """Base of every event payload; subclasses set `event_type` (e.g. `auth.company.created.v1`)."""

    event_type: ClassVar[str]

    @classmethod
    def subject(cls) -> str:
        return SUBJECT_PREFIX + cls.event_type


class EventEnvelope(BaseModel):
    """One event as published on JetStream."""

    id: str = Field(description="UUIDv7; also the Nats-Msg-Id used for dedupe")
    type: str
    source: str
    time: dt.datetime
    company_id: uuid.UUID | None = None
    actor: Actor = Field(default_factory=Actor)
    data: dict[str, Any]
    traceparent: str | None = None

    @property
    def subject(self) -> str:
        return SUBJECT_PREFIX + self.type


def new_event(
    data: EventData, *, source: str, company_id: uuid.UUID | None, actor: Actor | None = None
) -> EventEnvelope:
    """Wrap a payload in an envelope stamped with a fresh id, time and the current trace."""
    return EventEnvelope(
        id=str(uuid7()),
        type=data.event_type,
        source=source,
        time=dt.datetime.now(dt.UTC),
        company_id=company_id,
        actor=actor or Actor(),
        data=data.model_dump(mode="json"),
        traceparent=current_traceparent(),
    )
