"""Soft delete: rows are hidden by `deleted_at`, restorable, and listed separately."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.orm import Mapped, mapped_column

from knowrithm_common.db.base import utcnow


class SoftDeleteMixin:
    """Adds `deleted_at`; repositories filter on `not_deleted()` / `only_deleted()`."""

    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), default=None, index=True)

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def soft_delete(self) -> None:
        if self.deleted_at is None:
            self.deleted_at = utcnow()

    def restore(self) -> None:
        self.deleted_at = None

    @classmethod
    def not_deleted(cls) -> Any:
        return cls.deleted_at.is_(None)

    @classmethod
    def only_deleted(cls) -> Any:
        return cls.deleted_at.is_not(None)
