"""The keys of the system configuration that the platform itself honours, and value validation.

Entries of any other key are stored for integrations and validated only against their own
`config_type`. A known key has a fixed type and range; its default is the environment
setting of the process that honours it (shown in `default`), until an entry overrides it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

MIB = 1024 * 1024


class ConfigType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    FLOAT = "float"
    BOOLEAN = "boolean"
    JSON = "json"


class InvalidConfigValue(ValueError):
    """A value that does not fit its key's type or range; the message says why."""


@dataclass(frozen=True, slots=True)
class KnownKey:
    """A key the platform honours: its type, range, default and who reads it."""

    name: str
    type: ConfigType
    description: str
    default: str
    honoured_by: tuple[str, ...]
    minimum: int | None = None
    maximum: int | None = None

    def check(self, value: Any) -> Any:
        """`value` as this key's type within its range, or InvalidConfigValue."""
        value = coerce(value, self.type)
        if self.minimum is not None and value < self.minimum:
            raise InvalidConfigValue(f"must be at least {self.minimum:,}")
        if self.maximum is not None and value > self.maximum:
            raise InvalidConfigValue(f"must be at most {self.maximum:,}")
        return value


PUBLIC_SIGNUP = KnownKey(
    "public_signup_enabled", ConfigType.BOOLEAN,
    "Whether anyone may sign up a company (POST /api/v1/company); when false only super admins "
    "create companies (403 signup_closed for everyone else)",
    "true", ("auth",),
)
USER_RATE_LIMIT = KnownKey(
    "rate_limit_user_per_minute", ConfigType.INTEGER,
    "Requests per minute of one signed-in user; 0 turns the per-user limit off",
    "GATEWAY_RATE_LIMIT_USER_PER_MINUTE (600)", ("gateway",), minimum=0, maximum=1_000_000,
)
COMPANY_RATE_LIMIT = KnownKey(
    "rate_limit_company_per_minute", ConfigType.INTEGER,
    "Requests per minute of one company (its users and API keys together); 0 turns it off",
    "GATEWAY_RATE_LIMIT_COMPANY_PER_MINUTE (3000)", ("gateway",), minimum=0, maximum=10_000_000,
)
MAX_FILE_SIZE = KnownKey(
    "max_file_size", ConfigType.INTEGER,
    "Largest document accepted per file, in bytes (413 above it); the gateway's body limit for "
    "uploads is this plus 5 MiB for the multipart framing",
    "MAX_FILE_SIZE (52428800, 50 MiB)", ("ingestion", "gateway"), minimum=1024, maximum=512 * MIB,
)

KNOWN_KEYS: dict[str, KnownKey] = {k.name: k for k in (PUBLIC_SIGNUP, USER_RATE_LIMIT, COMPANY_RATE_LIMIT,
                                                       MAX_FILE_SIZE)}

_INTEGER = re.compile(r"[+-]?\d{1,18}")
_BOOLEANS = {"true": True, "false": False}


def infer_type(value: Any) -> ConfigType:
    """The type of an entry created without one, from its JSON value."""
    if isinstance(value, bool):
        return ConfigType.BOOLEAN
    if isinstance(value, int):
        return ConfigType.INTEGER
    if isinstance(value, float):
        return ConfigType.FLOAT
    if isinstance(value, str):
        return ConfigType.STRING
    return ConfigType.JSON


def coerce(value: Any, config_type: ConfigType) -> Any:
    """`value` as `config_type` (numbers and booleans may come as their text), or InvalidConfigValue."""
    if config_type is ConfigType.JSON:
        _check_json(value)
        return value
    if config_type is ConfigType.STRING:
        if not isinstance(value, str):
            raise InvalidConfigValue("expected a string")
        _check_json(value)
        return value
    if config_type is ConfigType.BOOLEAN:
        if isinstance(value, str) and value.strip().lower() in _BOOLEANS:
            return _BOOLEANS[value.strip().lower()]
        if not isinstance(value, bool):
            raise InvalidConfigValue("expected a boolean (true or false)")
        return value
    if config_type is ConfigType.INTEGER:
        return _integer(value)
    return _float(value)


def _integer(value: Any) -> int:
    if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidConfigValue("expected an integer")
    return value


def _float(value: Any) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError as exc:
            raise InvalidConfigValue("expected a number") from exc
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidConfigValue("expected a number")
    if not math.isfinite(value):
        raise InvalidConfigValue("expected a finite number")
    return float(value)


def _check_json(value: Any) -> None:
    """What PostgreSQL's JSONB and JSON itself cannot hold: NaN/Infinity and NUL characters."""
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidConfigValue("NaN and Infinity are not JSON values")
    if isinstance(value, str) and "\x00" in value:
        raise InvalidConfigValue("text must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_json(key)
            _check_json(item)
    elif isinstance(value, list):
        for item in value:
            _check_json(item)
