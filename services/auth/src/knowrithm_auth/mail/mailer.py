"""Outgoing mail: SMTP where configured, else a directory of .eml files (the dev mail outbox).

Mail goes out after the change that caused it commits, so no one is mailed a token that was
rolled back. The directory outbox is what `make up` uses: read the files in
`.knowrithm/mail/` (or AUTH_MAIL_OUTBOX_DIR) to follow a verification link by hand.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from knowrithm_common.db import after_commit

logger = logging.getLogger(__name__)


class Mailer(Protocol):
    async def send(self, message: EmailMessage) -> None: ...


def compose(*, sender: str, to: str, subject: str, text: str) -> EmailMessage:
    """A plain-text e-mail."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message["Date"] = dt.datetime.now(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
    message["Message-ID"] = f"<{uuid.uuid4()}@knowrithm>"
    message.set_content(text)
    return message


class DirectoryMailer:
    """Writes each message as `<time>-<id>.eml` into a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def send(self, message: EmailMessage) -> None:
        def write() -> None:
            self.directory.mkdir(parents=True, exist_ok=True)
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
            final = self.directory / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
            partial = final.with_suffix(".part")
            partial.write_bytes(message.as_bytes())
            partial.rename(final)  # readers never see half a message

        await asyncio.to_thread(write)


class SmtpMailer:
    """Sends through an SMTP server with STARTTLS (port 587) or implicit TLS (port 465)."""

    def __init__(self, *, host: str, port: int, username: str | None, password: str | None) -> None:
        self.host, self.port, self.username, self.password = host, port, username, password

    async def send(self, message: EmailMessage) -> None:
        def deliver() -> None:
            smtp_class = smtplib.SMTP_SSL if self.port == 465 else smtplib.SMTP
            with smtp_class(self.host, self.port, timeout=20) as smtp:
                if self.port != 465:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)

        await asyncio.to_thread(deliver)


def send_after_commit(session: AsyncSession, mailer: Mailer, message: EmailMessage) -> None:
    """Send `message` once the current transaction commits; a failure is logged, not raised."""

    async def send() -> None:
        try:
            await mailer.send(message)
        except Exception:
            logger.exception("could not send mail %r to %s", message["Subject"], message["To"])

    after_commit(session, send)
