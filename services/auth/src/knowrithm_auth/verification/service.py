"""Mailed links: sending the verification and password-reset mails, and acting on their tokens.

Requests naming an e-mail do the same whether or not an account has it (nothing is audited
for an unknown address), so they cannot be used to find out who has an account.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_auth.accounts.passwords import hash_password
from knowrithm_auth.accounts.repository import AccountsRepository
from knowrithm_auth.audit import audit_user
from knowrithm_auth.mail.mailer import Mailer, send_after_commit
from knowrithm_auth.models import User
from knowrithm_auth.sessions.revocation import Revocations
from knowrithm_auth.sessions.signout import force_sign_out
from knowrithm_auth.verification import messages, tokens
from knowrithm_common.db.base import utcnow
from knowrithm_common.events import Actor


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


async def resend_verification(
    session: AsyncSession, mail: MailContext, user: User | None, *, actor: Actor
) -> None:
    """Mail a new verification link to `user`, unless there is none or it is verified already."""
    if user is not None and not user.email_verified:
        await send_verification(session, mail, user)
        await audit_user(session, "user.verification_sent", actor=actor, user=user)


async def verify_email(session: AsyncSession, token: str, *, actor: Actor) -> User:
    """Confirm the address of the user the verification token was mailed to."""
    user = await tokens.consume(session, token, purpose=tokens.VERIFY_EMAIL)
    user.email_verified = True
    if user.status == "pending_verification":
        user.status = "active"
    await session.flush()
    await audit_user(session, "user.email_verified", actor=actor, user=user)
    return user


async def request_password_reset(
    session: AsyncSession, mail: MailContext, email: str, *, actor: Actor
) -> None:
    """Mail a password-reset link to the account with this e-mail, if there is one."""
    user = await AccountsRepository(session).user_by_email(email)
    if user is not None:
        await send_password_reset(session, mail, user)
        await audit_user(session, "user.password_reset_requested", actor=actor, user=user)


async def reset_password(
    session: AsyncSession, revoker: Revocations, token: str, new_password: str, *, actor: Actor
) -> None:
    """Set a new password with the token from the reset mail; every session of the user ends."""
    user = await tokens.consume(session, token, purpose=tokens.RESET_PASSWORD)
    user.password_hash = await hash_password(new_password)
    user.password_changed_at = utcnow()
    user.failed_login_attempts = 0
    user.locked_until = None
    # Whoever could read the mail controls the address.
    user.email_verified = True
    await force_sign_out(session, revoker, user.id)
    await audit_user(session, "user.password_reset", actor=actor, user=user)
