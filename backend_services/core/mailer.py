"""Outgoing e-mail. SMTP when configured; otherwise (development) .eml files in the outbox."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from backend_services.core.settings import get_settings

log = logging.getLogger(__name__)


class MailError(RuntimeError):
    """The mail could not be handed to the SMTP server; the caller tells the user."""


def build_message(to: str, subject: str, body: str, *, html: str | None = None,
                  message_id: str | None = None) -> EmailMessage:
    """Plain text, with an HTML alternative when given. `message_id` names the mail for
    good (a retry sends the same id, so a receiving server can drop the second copy)."""
    settings = get_settings()
    msg = EmailMessage()
    msg["From"] = settings.mail_from
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or make_msgid(domain="replyx.local")
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    return msg


def _send_smtp(msg: EmailMessage) -> None:
    s = get_settings()
    assert s.smtp_host
    with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=15) as smtp:
        if s.smtp_starttls:
            smtp.starttls()
        if s.smtp_user and s.smtp_password:
            smtp.login(s.smtp_user, s.smtp_password)
        smtp.send_message(msg)


def _write_outbox(msg: EmailMessage) -> Path:
    outbox = get_settings().outbox_dir
    outbox.mkdir(parents=True, exist_ok=True)
    path = outbox / f"{time.time_ns()}.eml"
    path.write_bytes(msg.as_bytes())
    return path


async def send(to: str, subject: str, body: str, *, html: str | None = None,
               message_id: str | None = None) -> None:
    await deliver(build_message(to, subject, body, html=html, message_id=message_id))


async def deliver(msg: EmailMessage) -> None:
    """Hand a built message to SMTP (or, without SMTP, to the development outbox)."""
    to = str(msg["To"])
    if get_settings().smtp_host:
        try:
            await asyncio.to_thread(_send_smtp, msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("SMTP delivery failed: %s", type(exc).__name__)
            raise MailError("We could not send the e-mail right now. Please try again.") from exc
    else:
        path = await asyncio.to_thread(_write_outbox, msg)
        log.info("mail to %s written to %s", to, path)


def read_outbox(limit: int = 50) -> list[EmailMessage]:
    """Newest first: the development mail page shows these."""
    outbox = get_settings().outbox_dir
    if not outbox.exists():
        return []
    files = sorted(outbox.glob("*.eml"), reverse=True)[:limit]
    out: list[EmailMessage] = []
    for f in files:
        m = message_from_bytes(f.read_bytes(), policy=policy.default)
        assert isinstance(m, EmailMessage)
        out.append(m)
    return out
