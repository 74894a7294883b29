"""The mails auth sends, with links built from the public base URL (BASE_URL)."""

from __future__ import annotations

from email.message import EmailMessage
from urllib.parse import quote

from knowrithm_auth.mail.mailer import compose
from knowrithm_auth.models import User


def verification_mail(user: User, token: str, *, sender: str, base_url: str) -> EmailMessage:
    link = f"{base_url.rstrip('/')}/verify?token={quote(token)}"
    text = (
        f"Hello {user.first_name},\n\nconfirm your e-mail address for Knowrithm with this link:\n\n"
        f"{link}\n\nor send this token to POST /api/v1/verify:\n\n{token}\n\n"
        "If you did not sign up, ignore this message.\n"
    )
    return compose(sender=sender, to=user.email, subject="Verify your e-mail address", text=text)


def reset_mail(user: User, token: str, *, sender: str, base_url: str, forced: bool) -> EmailMessage:
    link = f"{base_url.rstrip('/')}/reset-password?token={quote(token)}"
    why = (
        "An administrator requires you to choose a new password before signing in again."
        if forced
        else "Someone (hopefully you) asked to reset your Knowrithm password."
    )
    text = (
        f"Hello {user.first_name},\n\n{why}\n\nChoose a new password with this link:\n\n{link}\n\n"
        f"or send this token with your new password to POST /api/v1/auth/reset-password:\n\n{token}\n"
    )
    return compose(sender=sender, to=user.email, subject="Reset your Knowrithm password", text=text)
