"""Request bodies every service validates the same way: strict types, and partial updates."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class Body(BaseModel):
    """A strict request body: `"1"` is not an int, `1` is not a string."""

    model_config = ConfigDict(strict=True)


class PatchBody(Body):
    """A partial update: absent fields stay; `null` is refused for the fields named in `not_null`."""

    not_null: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="after")
    def _no_null_for_required(self) -> PatchBody:
        nulls = [f for f in self.not_null if f in self.model_fields_set and getattr(self, f) is None]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null")
        return self

    def changes(self) -> dict[str, object]:
        """The fields the caller sent, with their values."""
        return self.model_dump(include=self.model_fields_set)
