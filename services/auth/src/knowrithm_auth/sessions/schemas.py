"""Response models of a user's sign-in sessions as administrators see them."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, Field


class SignInSessionOut(BaseModel):
    """One live sign-in session (a refresh-token family): where and when it was used."""

    id: uuid.UUID = Field(description="the session's id (its refresh-token family)")
    created_at: dt.datetime = Field(description="when the user signed in")
    last_used_at: dt.datetime = Field(description="the sign-in or the latest token refresh")
    expires_at: dt.datetime = Field(description="when it ends unless refreshed again")
    ip: str | None = Field(description="the address of its latest use")
    user_agent: str | None = Field(description="the browser or program of its latest use")
    current: bool = Field(description="whether this request came with this session's access token")


class SignInSessionList(BaseModel):
    user_id: uuid.UUID
    sessions: list[SignInSessionOut]


class SignedOut(BaseModel):
    success: bool = True
    message: str = "The session is signed out"
