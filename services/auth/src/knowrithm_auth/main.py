"""The auth service app."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from fastapi import FastAPI

from knowrithm_auth.accounts import service
from knowrithm_auth.accounts.endpoints import router as accounts_router
from knowrithm_auth.accounts.tokens import TokenIssuer
from knowrithm_auth.apikeys import subscribers as apikeys
from knowrithm_auth.apikeys.endpoints import internal_router as apikeys_internal_router
from knowrithm_auth.apikeys.endpoints import router as apikeys_router
from knowrithm_auth.companies.endpoints import router as companies_router
from knowrithm_auth.config import AuthSettings
from knowrithm_auth.geo.endpoints import router as geo_router
from knowrithm_auth.mail.mailer import DirectoryMailer, Mailer, SmtpMailer
from knowrithm_auth.models import SCHEMA, outbox, shared
from knowrithm_auth.sessions.endpoints import router as sessions_router
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sysconfig import subscribers as sysconfig
from knowrithm_auth.sysconfig.endpoints import router as sysconfig_router
from knowrithm_auth.users.endpoints import router as users_router
from knowrithm_auth.verification.endpoints import router as verification_router
from knowrithm_auth.verification.service import MailContext
from knowrithm_common.identity import load_private_key
from knowrithm_common.service import ServiceSpec, create_service_app
from knowrithm_common.tasks import tasks_router

logger = logging.getLogger(__name__)


async def bootstrap_super_admin(app: FastAPI) -> None:
    """Create the super admin named by SUPER_ADMIN_* once."""
    settings: AuthSettings = app.state.settings
    if not settings.super_admin_email:
        return
    async with app.state.db.session() as session, session.begin():
        created = await service.ensure_super_admin(session, settings)
    if created:
        logger.info("bootstrap super admin %s created", settings.super_admin_email)


async def build_clients(app: FastAPI) -> None:
    """Clients that need the lifespan's Redis: the revocation writer."""
    settings: AuthSettings = app.state.settings
    app.state.revocations = Revocations(
        app.state.redis,
        access_ttl_seconds=max(settings.access_token_ttl_seconds, settings.impersonation_ttl_seconds),
    )


def build_mailer(settings: AuthSettings) -> Mailer:
    """SMTP when SMTP_SERVER is set, else the directory outbox."""
    if settings.smtp_server:
        return SmtpMailer(
            host=settings.smtp_server,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() or None,
        )
    return DirectoryMailer(Path(settings.mail_outbox_dir))


def create_app(settings: AuthSettings | None = None) -> FastAPI:
    """Build the auth app (uvicorn --factory knowrithm_auth.main:create_app)."""
    settings = settings or AuthSettings()
    private_pem = settings.jwt_private_key.get_secret_value()
    if not private_pem.strip():
        raise RuntimeError("KNOWRITHM_JWT_PRIVATE_KEY is required (auth signs access tokens)")
    spec = ServiceSpec(
        name="auth",
        schema=SCHEMA,
        outbox=outbox.table,
        routers=[
            accounts_router,
            verification_router,
            apikeys_router,
            apikeys_internal_router,
            users_router,
            sessions_router,
            companies_router,
            geo_router,
            sysconfig_router,
            tasks_router(shared.tasks),
        ],
        subscribers=[apikeys.subscribers, sysconfig.subscribers],
        on_startup=[build_clients, bootstrap_super_admin],
        description="Companies, users, tokens and API keys.",
    )
    app = create_service_app(spec, settings)
    app.state.token_issuer = TokenIssuer(
        load_private_key(private_pem), ttl_seconds=settings.access_token_ttl_seconds
    )
    app.state.mail = MailContext(
        mailer=build_mailer(settings),
        sender=settings.smtp_sender,
        base_url=settings.base_url,
        verification_ttl=dt.timedelta(hours=settings.verification_ttl_hours),
        reset_ttl=dt.timedelta(minutes=settings.password_reset_ttl_minutes),
    )
    return app
