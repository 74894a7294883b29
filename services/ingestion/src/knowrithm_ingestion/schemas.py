"""What the response models of every domain share."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel


def columns(model: type[BaseModel], row: object, **own: Any) -> dict[str, Any]:
    """The fields of `model` for `row`: `own` values, the others read from the row's same-named attributes."""
    return {**{name: getattr(row, name) for name in model.model_fields if name not in own}, **own}


class RowOut(BaseModel):
    """A response made of a soft-deletable row's same-named columns, with `is_active` (not deleted)."""

    @classmethod
    def of(cls, row: Any, **own: Any) -> Self:
        return cls(**columns(cls, row, **{"is_active": row.deleted_at is None, **own}))
