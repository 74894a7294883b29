"""Request and response models of API keys (field names from the Knowrithm API)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from knowrithm_common.identity import SCOPES, valid_scope


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field("API key", min_length=1, max_length=100)
    scopes: list[str] = Field(
        default_factory=lambda: ["read", "write"],
        min_length=1,
        max_length=32,
        description=f"any of {', '.join(SCOPES)}, or `<resource>:<scope>` (e.g. `documents:write`)",
    )
    permissions: dict[str, Any] = Field(default_factory=dict)
    expires_in_days: int | None = Field(None, ge=1, le=365)
    rate_limit_per_hour: int | None = Field(None, ge=1, le=1_000_000)
    rate_limit_per_day: int | None = Field(None, ge=1, le=10_000_000)

    @field_validator("scopes")
    @classmethod
    def _known_scopes(cls, scopes: list[str]) -> list[str]:
        unknown = [s for s in scopes if not valid_scope(s)]
        if unknown:
            raise ValueError(f"unknown scope(s) {unknown}; use {', '.join(SCOPES)} or <resource>:<scope>")
        return sorted(set(scopes))


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    key_prefix: str
    scopes: list[str]
    permissions: dict[str, Any]
    rate_limit_per_hour: int
    rate_limit_per_day: int
    status: str
    usage_count: int
    created_at: dt.datetime
    updated_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None


class ApiKeyCreated(BaseModel):
    api_key: str = Field(description="shown once: store it securely")
    api_secret: str = Field(description="shown once: only its hash is kept")
    details: ApiKeyOut
    message: str = "API key created successfully. Store the secret securely - it cannot be retrieved later."


class ApiKeyList(BaseModel):
    api_keys: list[ApiKeyOut]


class ResolveRequest(BaseModel):
    key_hash: str = Field(min_length=64, max_length=64, pattern="^[0-9a-f]{64}$")
