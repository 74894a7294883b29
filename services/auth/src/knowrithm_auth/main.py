"""The auth service app."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from knowrithm_auth.accounts import service
from knowrithm_auth.accounts.endpoints import router as accounts_router
from knowrithm_auth.accounts.tokens import TokenIssuer
from knowrithm_auth.config import AuthSettings
from knowrithm_auth.models import SCHEMA, platform
from knowrithm_common.identity import load_private_key
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router

logger = logging.getLogger(__name__)


async def bootstrap_super_admin(app: FastAPI) -> None:
    """Create the super admin named by SUPER_ADMIN_* once."""
    settings: AuthSettings = app.state.settings
    if not settings.super_admin_email:
        return
    async with app.state.db.sessions() as session, session.begin():
        created = await service.ensure_super_admin(
            session,
            email=settings.super_admin_email,
            username=settings.super_admin_username,
            first_name=settings.super_admin_first_name,
            last_name=settings.super_admin_last_name,
            password=settings.super_admin_password.get_secret_value(),
        )
    if created:
        logger.info("bootstrap super admin %s created", settings.super_admin_email)


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """Build the auth app (uvicorn --factory knowrithm_auth.main:create_app)."""
    settings = settings or AuthSettings()
    private_pem = settings.jwt_private_key.get_secret_value()
    if not private_pem.strip():
        raise RuntimeError("KNOWRITHM_JWT_PRIVATE_KEY is required (auth signs access tokens)")
    spec = ServiceSpec(
        name="auth",
        schema=SCHEMA,
        outbox=platform.outbox,
        routers=[accounts_router, tasks_router(platform.tasks)],
        on_startup=[bootstrap_super_admin],
        description="Companies, users, tokens and API keys.",
    )
    app = create_service_app(spec, settings)
    app.state.token_issuer = TokenIssuer(
        load_private_key(private_pem), ttl_seconds=settings.access_token_ttl_seconds
    )
    return app
