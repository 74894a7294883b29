"""Export files: the Knowrithm JSON body (`<rows key>`, `count`, `metadata`) or CSV with a header row.

Both are written row by row, so a large export is built in one pass over its query. In CSV,
empty values (null) are empty cells, booleans `true`/`false`; times are ISO 8601 in UTC.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

MEDIA_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


def plain(value: Any) -> Any:
    """A database value as JSON can hold it."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


# A cell a spreadsheet would run as a formula starts with one of these (OWASP "CSV injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A database value as a CSV cell: empty for null, `true`/`false` like JSON; text that a
    spreadsheet would run as a formula (a lead's `source` comes from anonymous visitors) is
    quoted with a leading `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return plain(value)


def filename(export_type: str, fmt: str, exported_at: dt.datetime) -> str:
    return f"knowrithm-{export_type}-{exported_at.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}.{fmt}"


class ExportWriter:
    """Collects rows into one export file."""

    def __init__(self, *, key: str, fmt: str, columns: Sequence[str], metadata: dict[str, Any]) -> None:
        self.key, self.fmt, self.columns, self.metadata = key, fmt, list(columns), metadata
        self.count = 0
        self._parts: list[str] = []
        self._csv = io.StringIO()
        self._writer = csv.writer(self._csv, lineterminator="\r\n")
        if fmt == "csv":
            self._writer.writerow(self.columns)

    def add(self, row: Mapping[Any, Any]) -> None:
        self.count += 1
        if self.fmt == "csv":
            self._writer.writerow([cell(row[c]) for c in self.columns])
        else:
            self._parts.append(json.dumps({c: plain(row[c]) for c in self.columns}))

    def finish(self) -> bytes:
        """The whole file."""
        if self.fmt == "csv":
            return self._csv.getvalue().encode()
        tail = json.dumps({"count": self.count, "metadata": self.metadata})[1:]
        return f'{{"{self.key}": [{", ".join(self._parts)}], {tail}'.encode()
