"""Which projection rows a company-analytics number may count, and the small arithmetic shared by the reports.

A `Facts` is one company (or every company, for super admins) and optionally one user (the
personal scope of a non-admin's dashboard). Its filters leave out deleted conversations, leads,
agents, documents and users, and every row of a deleted company, so a deleted company answers
as if it had no data. Messages and feedback count only inside live conversations.

Numbers: an average over nothing, and a percentage of nothing, is `null` (never a made-up 0).
Percentages and averages are rounded to 2 decimals, durations in seconds to 3.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, cast, exists, func, select

from knowrithm_analytics.models import (
    AgentFact,
    ApiRequestFact,
    AuditEntry,
    CompanyRegistration,
    ConversationFact,
    DatabaseConnectionFact,
    DocumentFact,
    FeedbackFact,
    LeadFact,
    MessageFact,
    UserRegistration,
)
from knowrithm_analytics.windows import Window
from knowrithm_common.errors import NotFound

Conditions = list[ColumnElement[bool]]


class ConversationNotFound(NotFound):
    code, message = "conversation_not_found", "Conversation not found"


def company_live(column: Any) -> ColumnElement[bool]:
    """The row's company is not deleted (rows without a company, or of a company not yet seen, pass)."""
    return ~exists().where(
        CompanyRegistration.company_id == column, CompanyRegistration.deleted_at.is_not(None)
    )


def within(column: Any, window: Window | None) -> Conditions:
    """`start <= column < end`, or nothing without a window."""
    return [] if window is None else [column >= window.start, column < window.end]


def day_of(column: Any) -> ColumnElement[dt.date]:
    """The UTC calendar day of a timestamp."""
    return cast(func.timezone("UTC", column), Date)


@dataclass(frozen=True, slots=True)
class Facts:
    """The rows one report covers: a company (None: every company) and, if set, one user's own."""

    company_id: uuid.UUID | None
    user_id: uuid.UUID | None = None

    @property
    def personal(self) -> bool:
        return self.user_id is not None

    def of_company(self, column: Any) -> Conditions:
        conditions = [company_live(column)]
        if self.company_id is not None:
            conditions.append(column == self.company_id)
        return conditions

    def conversations(self) -> Conditions:
        """Live conversations (a user's own in the personal scope)."""
        conditions = [ConversationFact.deleted_at.is_(None), *self.of_company(ConversationFact.company_id)]
        if self.user_id is not None:
            conditions += [ConversationFact.entity_type == "user", ConversationFact.entity_id == self.user_id]
        return conditions

    def conversation_ids(self) -> Select[uuid.UUID]:
        return select(ConversationFact.conversation_id).where(*self.conversations())

    def messages(self) -> Conditions:
        """Messages of live conversations in scope."""
        return [
            *self.of_company(MessageFact.company_id),
            MessageFact.conversation_id.in_(self.conversation_ids()),
        ]

    def feedback(self) -> Conditions:
        """Feedback on live conversations in scope."""
        return [
            *self.of_company(FeedbackFact.company_id),
            FeedbackFact.conversation_id.in_(self.conversation_ids()),
        ]

    def leads(self) -> Conditions:
        """Live leads (in the personal scope: leads of the user's own conversations)."""
        conditions = [LeadFact.deleted_at.is_(None), *self.of_company(LeadFact.company_id)]
        if self.user_id is not None:
            conditions.append(LeadFact.conversation_id.in_(self.conversation_ids()))
        return conditions

    def agents(self) -> Conditions:
        """Live agents (in the personal scope: the agents of the user's conversations)."""
        conditions = [AgentFact.deleted_at.is_(None), *self.of_company(AgentFact.company_id)]
        if self.user_id is not None:
            conditions.append(
                AgentFact.agent_id.in_(select(ConversationFact.agent_id).where(*self.conversations()))
            )
        return conditions

    def documents(self) -> Conditions:
        """Live documents (the user's uploads in the personal scope)."""
        conditions = [DocumentFact.deleted_at.is_(None), *self.of_company(DocumentFact.company_id)]
        if self.user_id is not None:
            conditions.append(DocumentFact.uploaded_by == self.user_id)
        return conditions

    def database_connections(self, *, deleted: bool = False) -> Conditions:
        """Live connections (`deleted`: the soft-deleted ones); the user's own in the personal scope."""
        state = DatabaseConnectionFact.deleted_at
        conditions = [
            state.is_not(None) if deleted else state.is_(None),
            *self.of_company(DatabaseConnectionFact.company_id),
        ]
        if self.user_id is not None:
            conditions.append(DatabaseConnectionFact.created_by == self.user_id)
        return conditions

    def users(self) -> Conditions:
        """Users not deleted (only the user in the personal scope)."""
        conditions = [UserRegistration.deleted.is_(False), *self.of_company(UserRegistration.company_id)]
        if self.user_id is not None:
            conditions.append(UserRegistration.user_id == self.user_id)
        return conditions

    def audit(self) -> Conditions:
        """Audit entries (the user's own actions in the personal scope)."""
        conditions = self.of_company(AuditEntry.company_id)
        if self.user_id is not None:
            conditions.append(AuditEntry.actor_id == self.user_id)
        return conditions

    def requests(self) -> Conditions:
        """API requests (the user's own in the personal scope)."""
        conditions = self.of_company(ApiRequestFact.company_id)
        if self.user_id is not None:
            conditions.append(ApiRequestFact.user_id == self.user_id)
        return conditions


@dataclass(frozen=True, slots=True)
class AgentTotals:
    """Per-agent subqueries over all time, to outer-join on `agent_id`: conversations (`n`),
    messages (`n`) and the mean rating (`avg`)."""

    conversations: Any
    messages: Any
    ratings: Any

    @classmethod
    def of(cls, facts: Facts) -> AgentTotals:
        return cls(
            select(ConversationFact.agent_id, func.count().label("n"))
            .where(*facts.conversations())
            .group_by(ConversationFact.agent_id)
            .subquery(),
            select(MessageFact.agent_id, func.count().label("n"))
            .where(*facts.messages())
            .group_by(MessageFact.agent_id)
            .subquery(),
            select(FeedbackFact.agent_id, func.avg(FeedbackFact.rating).label("avg"))
            .where(*facts.feedback(), FeedbackFact.rating.is_not(None))
            .group_by(FeedbackFact.agent_id)
            .subquery(),
        )

    def joined(self, stmt: Select) -> Select:
        """`stmt` (over AgentFact) outer-joined to the three totals."""
        return (
            stmt.outerjoin(self.conversations, self.conversations.c.agent_id == AgentFact.agent_id)
            .outerjoin(self.messages, self.messages.c.agent_id == AgentFact.agent_id)
            .outerjoin(self.ratings, self.ratings.c.agent_id == AgentFact.agent_id)
        )


def percent(part: float | None, whole: float | None) -> float | None:
    """`part` as a percentage of `whole`, or None when there is no whole."""
    if not whole or part is None:
        return None
    return round(part / whole * 100, 2)


def rounded(value: Any, digits: int = 2) -> float | None:
    """A database number (Decimal, float or None) as a rounded float."""
    return None if value is None else round(float(value), digits)


def seconds(milliseconds: Any) -> float | None:
    """Milliseconds from the database as seconds (3 decimals)."""
    return None if milliseconds is None else round(float(milliseconds) / 1000, 3)


def iso(value: dt.datetime | dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def counts(rows: Any, *, keys: tuple[str, ...] = (), missing: str = "unknown") -> dict[str, int]:
    """`{key: count}` from `(key, count)` rows; `keys` are always present (0 when absent)."""
    result = dict.fromkeys(keys, 0)
    for key, count in rows:
        name = missing if key is None else str(key)
        result[name] = result.get(name, 0) + int(count)
    return result
