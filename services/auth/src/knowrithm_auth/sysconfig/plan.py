"""Checking a PATCH /api/v1/config before anything changes: each entry's type, range and size.

Every problem of the request is reported at once (422 `invalid_config`, one item per problem
in `detail`, located like pydantic's errors), so a batch is fixed in one round.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from knowrithm_auth.models import SystemConfigEntry
from knowrithm_auth.sysconfig.schemas import ConfigEntryIn
from knowrithm_common.errors import ValidationFailed
from knowrithm_common.sysconfig import KNOWN_KEYS, ConfigType, InvalidConfigValue, coerce, infer_type

MAX_VALUE_BYTES = 16 * 1024  # of the value as JSON: configuration, not a document store


class InvalidConfigEntry(ValidationFailed):
    code, message = "invalid_config", "Invalid configuration entry"


@dataclass(frozen=True, slots=True)
class Planned:
    """One entry as it will be stored; `value` None means: remove the entry."""

    key: str
    value: Any
    config_type: ConfigType | None = None
    description: str | None = None
    is_sensitive: bool = False


class _Bad(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def plan_all(
    items: Sequence[ConfigEntryIn], existing: Mapping[str, SystemConfigEntry], *, batch: bool
) -> list[Planned]:
    """The entries to store, or InvalidConfigEntry naming every problem."""
    problems: list[dict[str, Any]] = []
    planned: list[Planned] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where: list[Any] = ["configs", index] if batch else []
        try:
            if item.config_key in seen:
                raise _Bad("config_key", f"{item.config_key} is given twice")
            seen.add(item.config_key)
            planned.append(_plan(item, existing.get(item.config_key)))
        except _Bad as bad:
            problems.append({"loc": [*where, bad.field], "msg": bad.message, "type": "value_error"})
    if problems:
        first = problems[0]
        raise InvalidConfigEntry(f"{'.'.join(map(str, first['loc']))}: {first['msg']}", detail=problems)
    return planned


def _plan(item: ConfigEntryIn, entry: SystemConfigEntry | None) -> Planned:
    key = item.config_key
    known = KNOWN_KEYS.get(key)
    if known is None and key.lower() in KNOWN_KEYS:
        raise _Bad("config_key", f"keys are case-sensitive: the platform's key is {key.lower()}")
    if item.description is not None and "\x00" in item.description:
        raise _Bad("description", "text must not contain NUL characters")
    if item.config_value is None:
        return Planned(key, None)
    description = item.description if item.description is not None else (entry.description if entry else None)
    if known is not None:
        if item.config_type not in (None, known.type):
            raise _Bad("config_type", f"{key} is a platform key of type {known.type}")
        if item.is_sensitive:
            raise _Bad("is_sensitive", f"{key} is a platform key every service reads: it cannot be sensitive")
        value = _checked(lambda: known.check(item.config_value), key)
        return Planned(key, value, known.type, description or known.description, False)
    kept = ConfigType(entry.config_type) if entry else None
    config_type = item.config_type or kept or infer_type(item.config_value)
    value = _checked(lambda: coerce(item.config_value, config_type), key,
                     kept=kept is not None and item.config_type is None)
    if len(json.dumps(value)) > MAX_VALUE_BYTES:
        raise _Bad("config_value", f"{key}: at most {MAX_VALUE_BYTES // 1024} KiB of JSON")
    sensitive = item.is_sensitive if item.is_sensitive is not None else bool(entry and entry.is_sensitive)
    return Planned(key, value, config_type, description, sensitive)


def _checked(check: Callable[[], Any], key: str, *, kept: bool = False) -> Any:
    try:
        return check()
    except InvalidConfigValue as exc:
        hint = " (the entry keeps its type; give config_type to change it)" if kept else ""
        raise _Bad("config_value", f"{key}: {exc}{hint}") from exc
