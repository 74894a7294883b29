"""What a route of this service gets from the running app: its settings and the key box."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from knowrithm_agents.config import AgentsSettings
from knowrithm_common.crypto import SecretBox


def app_settings(request: Request) -> AgentsSettings:
    return request.app.state.settings


def secret_box(request: Request) -> SecretBox:
    """Encrypts and decrypts the provider API keys of settings (ENCRYPTION_KEY)."""
    return app_settings(request).secret_box()


Config = Annotated[AgentsSettings, Depends(app_settings)]
Box = Annotated[SecretBox, Depends(secret_box)]
