"""The audit trail: auth's own audit events, and the domain events of every other service.

Auth publishes `auth.audit.recorded.v1` for each of its actions (successes and refusals), so
its domain events (company/user/API-key changes) are not audited a second time. Every other
service's events become entries too, except the high-volume activity records
(`gateway.api_requests.recorded.v1`, `conversations.message.created.v1`): `action` is the
event type without its version, `category` the producing service, the target the aggregate
and its id. One row per event id, so a redelivered or replayed event adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_analytics.models import AuditEntry
from knowrithm_analytics.projections.registry import Projections
from knowrithm_analytics.projections.upserts import insert_later, insert_once, row
from knowrithm_common.events import EventEnvelope
from knowrithm_common.events.auth import AuditRecordedV1
from knowrithm_common.events.conversations import MessageCreatedV1
from knowrithm_common.events.gateway import ApiRequestsRecordedV1

# Events that never become audit entries: auth audits itself; these two are activity, not actions.
NOT_AUDITED_SOURCES = frozenset({"auth"})
NOT_AUDITED_TYPES = frozenset({ApiRequestsRecordedV1.event_type, MessageCreatedV1.event_type})

# The id field naming an aggregate's target, where it is not `<aggregate>_id`.
TARGET_ID_FIELDS = {"website": "website_source_id"}

AUDIT_LOG = AuditEntry.__table__
_RECORD = insert_once(AUDIT_LOG)
projections = Projections()


@dataclass(frozen=True, slots=True)
class Action:
    """What the risk rules look at."""

    action: str
    outcome: str
    data: dict[str, Any]
    impersonated: bool

    @property
    def verb(self) -> str:
        return self.action.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class RiskRule:
    level: str
    why: str
    matches: Callable[[Action], bool]


def _deletion(a: Action) -> bool:
    return a.verb == "deleted" or a.verb.endswith("_deleted") or a.data.get("change") == "deleted"


RISK_RULES: tuple[RiskRule, ...] = (
    RiskRule(
        "critical",
        "company cascade deletion (the company and everything in it)",
        lambda a: a.action == "company.cascade_deleted",
    ),
    RiskRule(
        "high",
        "impersonation: starting it, and whatever is done while impersonating",
        lambda a: a.action == "user.impersonated" or a.impersonated,
    ),
    RiskRule(
        "high",
        "lead erasure (GDPR: the lead's conversations are gone for good)",
        lambda a: a.action == "conversations.lead.deleted" and a.data.get("erased") is True,
    ),
    RiskRule("high", "company deletion", lambda a: a.action in {"company.deleted", "company.bulk_deleted"}),
    RiskRule("medium", "failures and refusals", lambda a: a.outcome == "failure"),
    RiskRule("medium", "deletions of anything", _deletion),
    RiskRule(
        "medium",
        "API-key creation and revocation",
        lambda a: a.action in {"api_key.created", "api_key.revoked"},
    ),
    RiskRule(
        "medium",
        "a webhook's new signing secret (where the company's events go, and who can read them)",
        lambda a: a.action == "analytics.webhook.changed" and a.data.get("change") == "secret_rotated",
    ),
    RiskRule(
        "medium",
        "the platform's system configuration (sign-up, rate limits, upload size of every company)",
        lambda a: a.action == "system_config.changed",
    ),
    RiskRule(
        "medium",
        "role or status changes of users",
        lambda a: a.action in {"user.role_changed", "user.status_changed"},
    ),
)
"""The risk level of an audit entry: the first rule that matches, else `low`.

Ordered from the most to the least severe, so an action matching several gets the highest
(a refused cascade deletion is still `critical`: the attempt is what an auditor looks for).
Auth names its actions `<aggregate>.<verb>` (`company.deleted`); other services' entries use
the event type without version (`conversations.lead.deleted`).
"""


def risk_level(action: Action) -> str:
    """The level of the first matching rule in RISK_RULES, else `low`."""
    return next((rule.level for rule in RISK_RULES if rule.matches(action)), "low")


def is_audited(event_type: str) -> bool:
    """Whether events of this type become audit entries of their own (auth's are recorded by auth)."""
    return event_type.split(".", 1)[0] not in NOT_AUDITED_SOURCES and event_type not in NOT_AUDITED_TYPES


def _entry(event: EventEnvelope, *sources: BaseModel, **fields: Any) -> dict[str, Any]:
    """The audit row of `event`: who acted (the envelope's actor), `fields`, and its risk level."""
    actor = event.actor
    entry = row(
        AUDIT_LOG, *sources, event_id=event.id, time=event.time, company_id=event.company_id,
        source=event.source, actor_kind=actor.kind, actor_id=actor.id, impersonator_id=actor.impersonator_id,
        ip=actor.ip or None, user_agent=actor.user_agent or None, **fields,
    )  # fmt: skip
    impersonated = actor.impersonator_id is not None
    entry["risk_level"] = risk_level(Action(entry["action"], entry["outcome"], entry["detail"], impersonated))
    return entry


@projections.of(AuditRecordedV1)
async def audit_recorded(session: AsyncSession, event: EventEnvelope, data: AuditRecordedV1) -> None:
    """Auth's record of one of its actions: who, what, on what, and whether it was allowed."""
    insert_later(session, _RECORD, _entry(event, data, category=event.type.split(".", 1)[0]))


def _scalars(data: dict[str, Any]) -> dict[str, Any]:
    """The payload's plain values (nested settings and snapshots stay out of the log)."""
    plain = (str, int, float, bool, type(None))
    return {
        key: value
        for key, value in data.items()
        if isinstance(value, plain) or (isinstance(value, list) and all(isinstance(v, plain) for v in value))
    }


def _outcome(verb: str, data: dict[str, Any]) -> tuple[str, str | None]:
    if verb == "failed":
        return "failure", data.get("reason") or data.get("code")
    if data.get("status") == "failed":
        return "failure", data.get("error")
    return "success", None


async def audit_domain_event(session: AsyncSession, event: EventEnvelope) -> None:
    """A domain event of another service as an audit entry (`agents.agent.created` on ("agent", id))."""
    service, aggregate, *_ = event.type.split(".")
    action = event.type.rsplit(".", 1)[0]
    target = event.data.get(TARGET_ID_FIELDS.get(aggregate, f"{aggregate}_id"))
    outcome, reason = _outcome(action.rsplit(".", 1)[-1], event.data)
    entry = _entry(
        event, category=service, action=action, outcome=outcome, target_type=aggregate,
        target_id=None if target is None else str(target), reason=reason, detail=_scalars(event.data),
    )  # fmt: skip
    insert_later(session, _RECORD, entry)
