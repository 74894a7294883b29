"""The audit of queries on companies' databases (migration 0006): one row per execution or refusal.
The statement itself is not kept, only its SHA-256: it may hold a customer's values."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import DateTime, Float, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import IdMixin, utcnow
from knowrithm_ingestion.models import Base


class DatabaseQuery(IdMixin, Base):
    """Who ran which statement (its hash) on which connection, and how it ended."""

    __tablename__ = "database_queries"
    __table_args__ = (Index("ix_database_queries_company_created", "company_id", "created_at"),)

    company_id: Mapped[uuid.UUID]
    connection_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("database_connections.id", ondelete="CASCADE"), index=True
    )
    actor_kind: Mapped[str] = mapped_column(String(20))  # user | api_key | agent | system ...
    actor_id: Mapped[uuid.UUID | None]
    sql_sha256: Mapped[str] = mapped_column(String(64))  # of the statement as given (pipeline: its JSON)
    source: Mapped[str] = mapped_column(String(10))  # person | model | sample
    rows: Mapped[int | None] = mapped_column(Integer)
    elapsed_ms: Mapped[float | None] = mapped_column(Float)
    outcome: Mapped[str] = mapped_column(String(10))  # ok | refused | failed | timeout
    error_code: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), default=utcnow
    )
