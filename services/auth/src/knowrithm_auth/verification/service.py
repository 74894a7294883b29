"""Sending the verification and password-reset mails, and acting on their tokens."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.mail.mailer import Mailer, send_after_commit
from knowrithm_auth.models import User
from knowrithm_auth.verification import messages, tokens


@dataclass(frozen=True)
class MailContext:
    """What sending an account mail needs; built in the lifespan, kept in `app.state.mail`."""

    mailer: Mailer
    sender: str
    base_url: str
    verification_ttl: dt.timedelta
    reset_ttl: dt.timedelta


async def send_verification(session: AsyncSession, mail: MailContext, user: User) -> None:
    """Issue a verification token and mail it once the transaction commits."""
    token = await tokens.issue(session, user, purpose=tokens.VERIFY_EMAIL, ttl=mail.verification_ttl)
    message = messages.verification_mail(user, token, sender=mail.sender, base_url=mail.base_url)
    send_after_commit(session, mail.mailer, message)


async def send_password_reset(
    session: AsyncSession, mail: MailContext, user: User, *, forced: bool = False
) -> None:
    """Issue a reset token and mail it once the transaction commits."""
    token = await tokens.issue(session, user, purpose=tokens.RESET_PASSWORD, ttl=mail.reset_ttl)
    message = messages.reset_mail(user, token, sender=mail.sender, base_url=mail.base_url, forced=forced)
    send_after_commit(session, mail.mailer, message)
