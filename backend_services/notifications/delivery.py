"""From a request to e-mails: who hears of it, and sending each mail once.

`expand` turns each new request (core.notify) into one delivery per person who should
hear of it: a member of the workspace whose role may (catalogue), not blocked, who has
not turned the event off. An event gated on presence is dropped when an operator is
online (the console shows it already). A request is expanded once: its deliveries are
unique per person, and the request is marked in the same transaction.

`send_due` mails what is due, each delivery under a row lock (two jobs processes never
send one twice; a crash before the mark sends it again — e-mail is at-least-once there,
with a stable Message-ID per delivery so a receiving server can drop the copy). SMTP
failures are retried with backoff, then given up as "failed". A throttled event (a
visitor waiting) goes to a person at most once per THROTTLE; what arrives in between is
held and goes out as one digest when the window ends.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.channels.telegram import operators, outbox
from backend_services.conversations import presence
from backend_services.core import mailer
from backend_services.core.db import session_scope, sql_rows
from backend_services.notifications.catalogue import EVENTS, THROTTLE
from backend_services.notifications.contexts import context_for
from backend_services.notifications.render import render

log = logging.getLogger("replyx.notifications")

BATCH = 50
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LAST_RETRY = timedelta(hours=1)

TELEGRAM_EVENTS = ("waiting", "sla")  # also told to operators linked in Telegram

_NEW_SQL = text("""
SELECT id, workspace_id, event, context FROM notification_requests
WHERE expanded_at IS NULL ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED
""")
_DONE_SQL = text("""
UPDATE notification_requests SET expanded_at = now(), outcome = :o WHERE id = :id
""")
_RECIPIENTS_SQL = text("""
INSERT INTO notification_deliveries (workspace_id, request_id, user_id, event, status,
                                     attempts, next_try_at, error)
SELECT m.workspace_id, :r, u.id, :e, 'pending', 0, now(), ''
FROM memberships m
JOIN users u ON u.id = m.user_id
LEFT JOIN notification_settings s
  ON s.workspace_id = m.workspace_id AND s.user_id = u.id AND s.event = :e
WHERE m.workspace_id = :w AND m.role = ANY(:roles) AND NOT u.is_blocked
  AND coalesce(s.email, true)
ON CONFLICT (request_id, user_id) DO NOTHING
""")
_DUE_SQL = text("""
SELECT id FROM notification_deliveries
WHERE status = 'pending' AND next_try_at <= :now ORDER BY id LIMIT :n
""")
_LOCK_SQL = text("""
SELECT d.id, d.workspace_id, d.user_id, d.event, d.attempts, d.request_id, r.context,
       u.email, u.name, u.language
FROM notification_deliveries d
JOIN notification_requests r ON r.id = d.request_id
JOIN users u ON u.id = d.user_id
WHERE d.id = :id AND d.status = 'pending' AND d.next_try_at <= :now
FOR UPDATE OF d SKIP LOCKED
""")
_LAST_SENT_SQL = text("""
SELECT max(sent_at) FROM notification_deliveries
WHERE user_id = :u AND workspace_id = :w AND event = :e AND status = 'sent'
""")
_HELD_SQL = text("""
SELECT d.id, r.context FROM notification_deliveries d
JOIN notification_requests r ON r.id = d.request_id
WHERE d.user_id = :u AND d.workspace_id = :w AND d.event = :e AND d.status = 'pending'
  AND d.id <> :id
ORDER BY d.id FOR UPDATE OF d SKIP LOCKED
""")
_SENT_SQL = text("""
UPDATE notification_deliveries SET status = 'sent', sent_at = :now, digest_id = :digest,
  attempts = attempts + 1, error = ''
WHERE id = ANY(:ids)
""")
_RETRY_SQL = text("""
UPDATE notification_deliveries SET attempts = attempts + 1, next_try_at = :at,
  status = :status, error = :error
WHERE id = :id
""")
_HOLD_SQL = text("UPDATE notification_deliveries SET next_try_at = :at WHERE id = :id")


async def _rows(session: AsyncSession, sql: Any, **params: Any) -> list[Any]:
    return await sql_rows(session, sql, params)


async def expand() -> int:
    """Deliveries for new requests; returns how many requests were expanded."""
    done = 0
    wake: set[tuple[int, int]] = set()
    async with session_scope() as session:
        for request_id, workspace_id, name, ctx in await _rows(session, _NEW_SQL, n=BATCH):
            event = EVENTS.get(name)
            if event is None:
                outcome = "unknown event"
            elif event.gate_online and await presence.online_operator_count(workspace_id):
                outcome = "an operator was online"
            else:
                result = await session.exec(_RECIPIENTS_SQL, params={  # type: ignore[call-overload]
                    "r": request_id, "e": name, "w": workspace_id,
                    "roles": [r.value for r in event.roles]})
                outcome = f"{result.rowcount} to tell"
                if name in TELEGRAM_EVENTS and ctx.get("dialog_id"):
                    wake |= {(workspace_id, c) for c in await operators.alert(
                        session, workspace_id=workspace_id, request_id=request_id,
                        event=name, dialog_id=int(ctx["dialog_id"]),
                        minutes=ctx.get("minutes", ""))}
            await session.exec(_DONE_SQL, params={"o": outcome, "id": request_id})  # type: ignore[call-overload]
            done += 1
    for workspace_id, channel_id in sorted(wake):
        await outbox.wake(workspace_id, channel_id)
    return done


def _backoff(attempts: int) -> timedelta:
    return min(FIRST_RETRY * (1 << min(attempts, 16)), LAST_RETRY)


async def _send_one(delivery_id: int, now: datetime) -> str:
    """'sent', 'held', 'retry', 'failed' or '' (someone else has it, or it is not due)."""
    async with session_scope() as session:
        found = await _rows(session, _LOCK_SQL, id=delivery_id, now=now)
        if not found:
            return ""
        (_, workspace_id, user_id, name, attempts, _request, ctx, email, person,
         language) = found[0]
        event = EVENTS[name]
        ids, items = [delivery_id], [ctx]
        if event.throttled:
            last = (await _rows(session, _LAST_SENT_SQL, u=user_id, w=workspace_id,
                                e=name))[0][0]
            if last is not None and now < last + THROTTLE:
                await session.exec(_HOLD_SQL, params={"at": last + THROTTLE,  # type: ignore[call-overload]
                                                      "id": delivery_id})
                return "held"
            for held_id, held_ctx in await _rows(session, _HELD_SQL, u=user_id,
                                                 w=workspace_id, e=name, id=delivery_id):
                ids.append(held_id)
                items.append(held_ctx)
        template, context = await context_for(
            session, workspace_id, name, items, recipient=person, language=language)
        mail = render(template, language, context)
        try:
            await mailer.send(email, mail.subject, mail.text, html=mail.html,
                              message_id=f"<notification-{delivery_id}@replyx>")
        except mailer.MailError as exc:
            failed = attempts + 1 >= MAX_ATTEMPTS
            await session.exec(_RETRY_SQL, params={  # type: ignore[call-overload]
                "at": now + _backoff(attempts), "status": "failed" if failed else "pending",
                "error": str(exc)[:300], "id": delivery_id})
            log.warning("notification %s to user %s not sent (attempt %s)", delivery_id,
                        user_id, attempts + 1)
            return "failed" if failed else "retry"
        await session.exec(_SENT_SQL, params={"now": now, "ids": ids,  # type: ignore[call-overload]
                                              "digest": delivery_id if len(ids) > 1 else None})
    return "sent"


async def send_due(now: datetime | None = None) -> dict[str, int]:
    """Send what is due at `now` (the database's clock when not given)."""
    async with session_scope() as session:
        if now is None:
            now = (await _rows(session, text("SELECT now()")))[0][0]
        due = [r[0] for r in await _rows(session, _DUE_SQL, now=now, n=BATCH)]
    assert now is not None
    counts: dict[str, int] = {}
    for delivery_id in due:
        outcome = await _send_one(delivery_id, now)
        if outcome:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts
