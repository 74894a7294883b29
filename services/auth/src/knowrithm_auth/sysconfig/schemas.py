"""Bodies and answers of GET/PATCH /api/v1/config (the shapes the Knowrithm SDK's admin service uses)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from knowrithm_common.sysconfig import ConfigType, KnownKey

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$"
MAX_ENTRIES_PER_PATCH = 50


class ConfigEntryIn(BaseModel):
    """One entry to create or change; `config_value: null` removes the entry."""

    model_config = ConfigDict(extra="forbid")

    config_key: str = Field(pattern=KEY_PATTERN, description="letters, digits, `_`, `.`, `-`; up to 100")
    config_value: Any = Field(description="any JSON value of the entry's type; null removes the entry")
    config_type: ConfigType | None = Field(
        None, description="kept when omitted; a new entry's is inferred from its value"
    )
    description: str | None = Field(None, max_length=500)
    is_sensitive: bool | None = Field(
        None, description="sensitive values are stored encrypted and shown to super admins only"
    )


class ConfigBatchIn(BaseModel):
    """Several entries, applied together (all or none)."""

    model_config = ConfigDict(extra="forbid")

    configs: list[ConfigEntryIn] = Field(min_length=1, max_length=MAX_ENTRIES_PER_PATCH)


class ConfigEntryOut(BaseModel):
    config_key: str
    config_value: Any = Field(description="null when masked (a sensitive entry read by an admin)")
    config_type: ConfigType
    description: str | None
    is_sensitive: bool
    is_masked: bool = Field(description="true when the value is withheld from this caller")
    honoured_by: list[str] = Field(description="the services that apply this key; empty for other keys")
    updated_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class KnownKeyOut(BaseModel):
    """A key the platform honours: until an entry overrides it, `default` applies."""

    config_key: str
    config_type: ConfigType
    description: str
    default: str = Field(description="the environment setting (and its default) in force without an entry")
    minimum: int | None
    maximum: int | None
    honoured_by: list[str]
    overridden: bool

    @classmethod
    def of(cls, key: KnownKey, *, overridden: bool) -> KnownKeyOut:
        return cls(config_key=key.name, config_type=key.type, description=key.description,
                   default=key.default, minimum=key.minimum, maximum=key.maximum,
                   honoured_by=list(key.honoured_by), overridden=overridden)


class ConfigListOut(BaseModel):
    success: bool = True
    configs: list[ConfigEntryOut] = Field(description="every stored entry, by key")
    known_keys: list[KnownKeyOut] = Field(description="the keys the platform itself honours")


class ConfigChangeOut(BaseModel):
    config_key: str
    change: str = Field(description="created | updated | removed | unchanged")


class ConfigPatchOut(BaseModel):
    success: bool = True
    message: str
    config: ConfigEntryOut | None = Field(
        description="the (first) entry as stored now; null when it was removed"
    )
    configs: list[ConfigEntryOut] = Field(
        description="the request's entries as stored now (removed ones left out)"
    )
    changes: list[ConfigChangeOut]
