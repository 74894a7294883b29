"""Sample rows as they are stored: long values cut, likely personal data masked.

E-mail addresses keep their first character and their domain (`j***@example.com`); phone
numbers keep their last four digits (`***-***-1234`). Both are found by pattern anywhere in a
text value, so an address inside a sentence is masked too. Other values are kept as the engine
gave them (JSON-friendly already), strings cut to `MAX_VALUE` characters.
"""

from __future__ import annotations

import re
from typing import Any

MAX_VALUE = 200
SAMPLE_ROWS = 5

EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
# A run of 7 to 15 digits with the separators phone numbers use (+, spaces, dots, dashes, brackets).
PHONE = re.compile(r"(?<![\w])\+?(?:\(?\d[\d\s().-]{5,22}\d)(?![\w])")


PHONE_COLUMN = re.compile(r"(?i)(phone|fax|mobile|cell|^tel|_tel|telephone)")
DATE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}")


def _mask_phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    groups = len(re.findall(r"\d+", text))
    phone_like = text.startswith(("+", "(")) or groups >= 3 or (groups == 1 and len(digits) >= 10)
    if not 7 <= len(digits) <= 15 or DATE.match(text) or not phone_like:
        return text  # a date, a postal code (12227-000) or a number that may well be an id
    return f"***-***-{digits[-4:]}"


def mask_text(text: str) -> str:
    """`text` with e-mail addresses and phone numbers masked, cut to MAX_VALUE characters."""
    masked = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    masked = PHONE.sub(_mask_phone, masked)
    return masked if len(masked) <= MAX_VALUE else masked[: MAX_VALUE - 1] + "…"


def mask_value(value: Any, column: str = "") -> Any:
    """A sample value as stored: text masked and cut; nested values masked likewise; others as given.
    Any value of a column named like a phone number (`phone`, `fax`, `mobile`, `tel…`) is masked
    whole, keeping its last four digits."""
    if isinstance(value, str | int) and PHONE_COLUMN.search(column) and not isinstance(value, bool):
        digits = re.sub(r"\D", "", str(value))
        return f"***-***-{digits[-4:]}" if len(digits) >= 4 else "***"
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {str(k): mask_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v) for v in value[:20]]
    return value


def mask_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """At most SAMPLE_ROWS rows, each value masked (see `mask_value`)."""
    return [{name: mask_value(value, name) for name, value in row.items()} for row in rows[:SAMPLE_ROWS]]
