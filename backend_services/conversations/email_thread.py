"""A conversation continued by e-mail: the visitor left an address while nobody was
there, operators answer in the console, the visitor reads the answer in their mailbox
and replies to it, and the reply comes back into the conversation.

Out: an operator's reply in such a conversation writes an outbox row in the reply's own
transaction (`queue_reply`); the jobs process mails it (`send_due`) with a fixed
Message-ID, retrying SMTP failures, and a Reply-To address that names the conversation:
`reply+<dialog id>-<signature>@<reply domain>`. The signature (HMAC of the id with the
secret key) means nobody can write into a conversation by guessing its number.

In: the jobs process runs an SMTP receiver (`InboundHandler`, aiosmtpd) when
REPLYX_INBOUND_SMTP_PORT is set; the domain's MX (or a relay) delivers replies to it. A
reply is accepted only for a signed address and only from the visitor's own address; its
text, cut above our "reply above this line" marker and the quoted mail below it, is
stored as the visitor's message (keyed by the mail's Message-ID, so a mail delivered
twice is one message) before the server answers 250. Until it is stored the answer is a
4xx, and the sending server tries again later: nothing acknowledged is lost.

A reply to a conversation closed since continues in a new one for the same visitor
(closed conversations are never reopened), with a note naming the old one.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any

from sqlalchemy import text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.conversations import handoff, store
from backend_services.conversations.events import publish_dialog_changed
from backend_services.core import mailer
from backend_services.core.db import session_scope
from backend_services.core.settings import get_settings
from backend_services.models import Contact, Dialog, EmailThreadMessage

log = logging.getLogger("replyx.email")

MARKER = "##- Please type your reply above this line / Напишите ответ выше этой строки -##"
BATCH = 50
MAX_ATTEMPTS = 8
MAX_REPLY = 8000
_ADDRESS = re.compile(r"^reply\+(\d+)-([0-9a-f]{20})@(.+)$", re.IGNORECASE)
_ATTRIBUTION = re.compile(r"(wrote|писал|пишет|написал|написала)\s*:\s*$|^\S.*<\S+@\S+>:\s*$",
                          re.IGNORECASE)


class Refused(Exception):
    """A mail we will not take, with the SMTP reply to give."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


def _signature(dialog_id: int) -> str:
    key = (get_settings().secret_key or "").encode()
    return hmac.new(key, f"replyx.email.reply:{dialog_id}".encode(), hashlib.sha256
                    ).hexdigest()[:20]


def _domain() -> str:
    s = get_settings()
    return s.reply_domain or parseaddr(s.mail_from)[1].partition("@")[2] or "localhost"


def reply_address(dialog_id: int) -> str:
    return f"reply+{dialog_id}-{_signature(dialog_id)}@{_domain()}"


def dialog_of_address(address: str) -> int | None:
    """The conversation a reply address names, if it is ours and its signature holds."""
    m = _ADDRESS.match(address.strip())
    if m is None or m.group(3).lower() != _domain().lower():
        return None
    dialog_id = int(m.group(1))
    return dialog_id if hmac.compare_digest(m.group(2).lower(), _signature(dialog_id)) else None


# ------------------------------------------------------------------------------------ out


async def queue_reply(session: AsyncSession, dialog: Dialog, message_id: int,
                      address: str) -> None:
    """Owe the visitor this reply by e-mail (in the reply's transaction)."""
    assert dialog.id is not None
    session.add(EmailThreadMessage(
        workspace_id=dialog.workspace_id, dialog_id=dialog.id, message_id=message_id,
        direction="out", address=address,
        rfc_message_id=f"<replyx-{dialog.id}-{message_id}@{_domain()}>",
        next_try_at=datetime.now(UTC)))


_DUE_SQL = text("""
SELECT id FROM email_messages WHERE direction = 'out' AND status = 'pending'
  AND next_try_at <= :now ORDER BY id LIMIT :n
""")
_LOCK_SQL = text("""
SELECT e.id, e.dialog_id, e.address, e.rfc_message_id, e.attempts, m.content, w.name
FROM email_messages e
JOIN messages m ON m.id = e.message_id AND m.workspace_id = e.workspace_id
JOIN workspaces w ON w.id = e.workspace_id
WHERE e.id = :id AND e.status = 'pending' FOR UPDATE OF e SKIP LOCKED
""")
_THREAD_SQL = text("""
SELECT rfc_message_id FROM email_messages
WHERE dialog_id = :d AND id < :id AND status IN ('sent', 'received') ORDER BY id
""")
_FIRST_SQL = text("""
SELECT content FROM messages WHERE dialog_id = :d AND sender = 'visitor' ORDER BY id LIMIT 1
""")


def _body(reply: str, workspace: str, question: str) -> tuple[str, str]:
    from markupsafe import escape

    plain = (f"{MARKER}\n\n{reply}\n\n— {workspace}\n\n"
             f"You asked / Ваш вопрос:\n> " + "\n> ".join(question.splitlines()) + "\n")
    html = (f'<p style="color:#80838d;font-size:12px">{escape(MARKER)}</p>'
            f'<div style="font-size:15px;white-space:pre-wrap">{escape(reply)}</div>'
            f'<p style="color:#60646c">— {escape(workspace)}</p>'
            f'<blockquote style="color:#80838d;border-left:3px solid #e8e8ec;'
            f'padding-left:8px">{escape(question)}</blockquote>')
    return plain, html


async def _send_one(row_id: int, now: datetime) -> str:
    async with session_scope() as session:
        found = list(await session.exec(_LOCK_SQL, params={"id": row_id}))  # type: ignore[call-overload]
        if not found:
            return ""
        _, dialog_id, address, rfc_id, attempts, content, workspace = found[0]
        earlier = [r[0] for r in await session.exec(_THREAD_SQL, params={  # type: ignore[call-overload]
            "d": dialog_id, "id": row_id})]
        first = (await session.exec(_FIRST_SQL, params={"d": dialog_id})).first()  # type: ignore[call-overload]
        plain, html = _body(content, workspace, first[0] if first else "")
        msg = mailer.build_message(address, f"Re: {workspace} — #{dialog_id}", plain,
                                   html=html, message_id=rfc_id)
        msg["Reply-To"] = reply_address(dialog_id)
        if earlier:
            msg["In-Reply-To"] = earlier[-1]
            msg["References"] = " ".join(earlier[-10:])
        try:
            await mailer.deliver(msg)
        except mailer.MailError as exc:
            failed = attempts + 1 >= MAX_ATTEMPTS
            await session.exec(text(  # type: ignore[call-overload]
                "UPDATE email_messages SET attempts = attempts + 1, status = :s, "
                "next_try_at = :at, error = :e WHERE id = :id"), params={
                "s": "failed" if failed else "pending",
                "at": now + min(timedelta(seconds=30 * (1 << min(attempts, 16))),
                                timedelta(hours=1)),
                "e": str(exc)[:300], "id": row_id})
            return "failed" if failed else "retry"
        await session.exec(text(  # type: ignore[call-overload]
            "UPDATE email_messages SET attempts = attempts + 1, status = 'sent', error = '' "
            "WHERE id = :id"), params={"id": row_id})
    return "sent"


async def send_due(now: datetime | None = None) -> dict[str, int]:
    """Mail the operators' replies that are due (the jobs process, every tick)."""
    now = now or datetime.now(UTC)
    async with session_scope() as session:
        due = [r[0] for r in await session.exec(_DUE_SQL, params={  # type: ignore[call-overload]
            "now": now, "n": BATCH})]
    counts: dict[str, int] = {}
    for row_id in due:
        outcome = await _send_one(row_id, now)
        if outcome:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


# ------------------------------------------------------------------------------------- in


def reply_text(msg: EmailMessage) -> str:
    """What the visitor wrote: the plain text (or the HTML's text) above our marker, less
    the quoted mail and the "On … wrote:" line that introduces it."""
    part = msg.get_body(preferencelist=("plain", "html"))
    body = part.get_content() if part is not None else ""
    if part is not None and part.get_content_type() == "text/html":
        body = re.sub(r"<[^>]+>", " ", re.sub(r"<br\s*/?>|</p>", "\n", body, flags=re.I))
    lines = body.replace("\r\n", "\n").split("\n")
    kept: list[str] = []
    for line in lines:
        if "##- " in line and "-##" in line:  # our marker, quoted or not
            break
        kept.append(line)
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    if kept and _ATTRIBUTION.search(kept[-1].strip()):
        kept.pop()
    while kept and (not kept[-1].strip() or kept[-1].lstrip().startswith(">")):
        kept.pop()
    return "\n".join(kept).strip()[:MAX_REPLY]


@dataclass(frozen=True)
class Received:
    dialog_id: int  # where it was stored (a new conversation when the old one was closed)
    message_id: int
    duplicate: bool


async def _continue_in(session: AsyncSession, old: Dialog) -> Dialog:
    """Where a reply to a closed conversation (never reopened) goes: the visitor's open
    one with this assistant, or a new one waiting for a person."""
    assert old.id is not None
    open_one = (await session.exec(select(Dialog).where(
        col(Dialog.workspace_id) == old.workspace_id, col(Dialog.contact_id) == old.contact_id,
        col(Dialog.assistant_id) == old.assistant_id, col(Dialog.status) != "closed")
        .with_for_update())).first()
    new = open_one or Dialog(workspace_id=old.workspace_id, assistant_id=old.assistant_id,
                             channel_id=old.channel_id, contact_id=old.contact_id,
                             updated_at=store.now())
    new.email_thread = True
    session.add(new)
    await session.flush()
    if new.status == "ai":
        store.transition(session, new, "requested", actor="visitor",
                         reason="the visitor replied by e-mail")
        new.handoff_requested_at = store.now()
        new.handoff_reason = "the visitor replied by e-mail"
    await store.add_message(session, new, "note",
                            f"Continues conversation #{old.id} (replied by e-mail).")
    return new


async def receive(dialog_id: int, sender: str, msg: EmailMessage) -> Received:
    """Store a visitor's e-mail reply to `dialog_id`; Refused when it is not one."""
    rfc_id = str(msg.get("Message-ID", "")).strip()[:300]
    if not rfc_id:
        raise Refused("550 5.6.0 A Message-ID is required")
    content = reply_text(msg)
    if not content:
        raise Refused("550 5.6.0 The reply is empty")
    client_id = "email:" + hashlib.sha256(rfc_id.encode()).hexdigest()[:40]
    async with session_scope() as session:
        dialog = (await session.exec(select(Dialog).where(col(Dialog.id) == dialog_id)
                                     .with_for_update())).first()
        if dialog is None or not dialog.email_thread:
            raise Refused("550 5.1.1 No such conversation")
        contact = await session.get(Contact, dialog.contact_id)
        if contact is None or contact.workspace_id != dialog.workspace_id or \
                contact.email.lower() != sender.lower():
            raise Refused("550 5.7.1 Replies are taken from the visitor's own address")
        seen = (await session.exec(select(EmailThreadMessage).where(
            col(EmailThreadMessage.rfc_message_id) == rfc_id))).first()
        if seen is not None:
            return Received(seen.dialog_id, seen.message_id or 0, duplicate=True)
        if dialog.status == "closed":
            dialog = await _continue_in(session, dialog)
        message, _ = await store.add_message(session, dialog, "visitor", content,
                                             client_id=client_id)
        assert message.id is not None and dialog.id is not None
        session.add(EmailThreadMessage(
            workspace_id=dialog.workspace_id, dialog_id=dialog.id, message_id=message.id,
            direction="in", address=contact.email, rfc_message_id=rfc_id, status="received"))
        status, workspace_id, stored_in = dialog.status, dialog.workspace_id, dialog.id
    if status == "ai":  # answered by a person before: the reply is for people too
        await handoff.request(stored_in, workspace_id, reason="the visitor replied by e-mail",
                              by="visitor")
    await publish_dialog_changed(workspace_id, stored_in, status, message_id=message.id,
                                 kind="message", by="visitor")
    return Received(stored_in, message.id, duplicate=False)


class InboundHandler:
    """aiosmtpd handler: 550 for what is not a reply we sent, 451 while it cannot be stored."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if dialog_of_address(address) is None:
            return "550 5.1.1 No such recipient"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        sender = parseaddr(str(msg.get("From", "")))[1] or envelope.mail_from or ""
        targets = {d for d in (dialog_of_address(a) for a in envelope.rcpt_tos) if d}
        targets |= {d for _, a in getaddresses([str(msg.get("To", ""))])
                    if (d := dialog_of_address(a))}
        try:
            for dialog_id in sorted(targets):
                await receive(dialog_id, sender, msg)
        except Refused as exc:
            return exc.reply
        except Exception:  # the database or Redis is away: the sender keeps the mail
            log.exception("an e-mail reply could not be stored yet")
            return "451 4.3.0 Try again later"
        return "250 OK"


async def start_receiver(host: str, port: int) -> asyncio.Server:
    """Listen for replies on the running event loop (the one the database pool is on)."""
    from aiosmtpd.smtp import SMTP

    handler = InboundHandler()
    return await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname=_domain(), data_size_limit=5 * 1024 * 1024),
        host=host, port=port)
