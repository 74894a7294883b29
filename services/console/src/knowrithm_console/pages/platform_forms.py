"""What the platform screens (providers, system) share: reading their forms, placing the API's refusals.

The catalogue's API is strict (a number sent as text is a 422), so numbers are read here, in
the person's own writing ("1,5" or "1.5"), and a field that is not a number is refused here,
next to that field, before any call. The API's refusals come back located (`loc`); each lands
next to the field it names.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData

from knowrithm_console.api import ApiError
from knowrithm_console.i18n import gettext as _
from knowrithm_console.pages.messages import message_of


class FieldError(Exception):
    """A field the console could not read (refused before calling the API)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def text(form: FormData, name: str, *, limit: int = 5000) -> str:
    """A text field, stripped (absent is empty)."""
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def optional(form: FormData, name: str) -> str | None:
    """A text field, None when left empty."""
    return text(form, name) or None


def flag(form: FormData, name: str) -> bool:
    """A checkbox: ticked or not."""
    return form.get(name) is not None


_GROUPED = re.compile(r"^-?\d{1,3}([.,'\u2019]\d{3})+$")  # 1,000,000 / 1.000.000 / 1'000'000


def whole(form: FormData, name: str, *, required: bool = False) -> int | None:
    """A whole number field, grouped or not (None when empty and not required), else FieldError."""
    raw = re.sub(r"[\s\u202f\xa0]", "", text(form, name, limit=40))
    if not raw:
        if required:
            raise FieldError(name, _("Enter a whole number."))
        return None
    if _GROUPED.match(raw):
        raw = re.sub(r"[.,'\u2019]", "", raw)
    try:
        return int(raw)
    except ValueError:
        raise FieldError(name, _("Enter a whole number.")) from None


def amount(form: FormData, name: str) -> float | None:
    """A decimal number field ("0.5" or "0,5"), None when empty, else FieldError."""
    raw = text(form, name, limit=40).replace(" ", "")
    if not raw:
        return None
    try:
        return float(raw.replace(",", "."))
    except ValueError:
        raise FieldError(name, _("Enter a number, such as 0.5.")) from None


def refusals(
    exc: ApiError, fields: set[str], *, conflicts: dict[str, str] | None = None
) -> tuple[dict[str, str], str | None]:
    """The API's refusal as (errors by field, a message for the top of the form)."""
    found: dict[str, str] = {}
    if isinstance(exc.detail, list):
        for item in exc.detail:
            loc = item.get("loc") if isinstance(item, dict) else None
            parts = loc if isinstance(loc, list) else []
            named = [part for part in parts if isinstance(part, str) and part != "body"]
            if named and named[-1] in fields:
                found.setdefault(named[-1], str(item.get("msg", "")))
    field = (conflicts or {}).get(exc.code)
    if not found and field is not None:
        found[field] = message_of(exc)
    return found, (None if found else message_of(exc))


def located(exc: ApiError) -> list[tuple[list[Any], str]]:
    """Each located problem of the API's refusal: (its `loc`, its message)."""
    if not isinstance(exc.detail, list):
        return []
    return [(list(item["loc"]), str(item.get("msg", ""))) for item in exc.detail
            if isinstance(item, dict) and isinstance(item.get("loc"), list)]
