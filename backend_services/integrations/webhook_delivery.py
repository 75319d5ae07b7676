"""Sending stored webhook deliveries: signed, retried with backoff, each answer logged.

A delivery is claimed (its next attempt pushed a lease ahead, its attempt counted) and
committed before the POST, so two jobs processes never send one at once and a process
killed mid-send leaves it to be sent again when the lease runs out: delivery is at least
once, and the event id (the same on every attempt, in the body and the
`X-ReplyX-Delivery` header) lets a receiver drop a repeat. 2xx is delivered; anything else
— another status, a timeout, a refused connection — is retried after 10 s, 20 s, 40 s …
(capped at six hours, with jitter) until `MAX_ATTEMPTS`, then marked failed; the log keeps
the receiver's status and the start of its answer, and an admin can send it again.

Signature: `X-ReplyX-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
`"<t>." + body` with the endpoint's secret; `X-ReplyX-Timestamp` repeats `t` so a receiver
can refuse old replays (docs/webhooks.md).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.core.db import session_scope, sql_rows
from backend_services.core.security import decrypt_secret
from backend_services.knowledge.web import FetchFailed, post
from backend_services.models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BATCH = 20
LEASE = timedelta(seconds=60)
FIRST_RETRY_SECONDS = 10.0
MAX_RETRY_SECONDS = 6 * 3600.0
USER_AGENT = "ReplyX-Webhooks/1.0"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def retry_delay(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones (±20 % jitter, so
    receivers coming back are not hit by every retry at once)."""
    base = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * float(2 ** max(0, attempts - 1)))
    return float(base * random.uniform(0.8, 1.2))


@dataclass(frozen=True)
class _Claimed:
    id: int
    attempts: int
    url: str
    secret_encrypted: str
    event_id: str
    event_type: str
    body: bytes


async def _claim(limit: int) -> list[_Claimed]:
    async with session_scope() as session:
        rows = (await session.exec(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .where(col(WebhookDelivery.status) == "pending",
                   col(WebhookDelivery.next_attempt_at) <= sa.func.now(),
                   col(WebhookEndpoint.is_active))
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
            .limit(limit).with_for_update(of=WebhookDelivery, skip_locked=True))).all()
        claimed = []
        now = datetime.now(UTC)
        for delivery, endpoint in rows:
            assert delivery.id is not None
            delivery.attempts += 1
            delivery.next_attempt_at = now + LEASE
            session.add(delivery)
            body = json.dumps(delivery.payload, ensure_ascii=False,
                              separators=(",", ":")).encode()
            claimed.append(_Claimed(delivery.id, delivery.attempts, endpoint.url,
                                    endpoint.secret_encrypted, delivery.event_id,
                                    delivery.event_type, body))
    return claimed


async def _send(c: _Claimed) -> tuple[int | None, str, str]:
    """(status, start of the answer, error) of one POST."""
    timestamp = int(time.time())
    try:
        secret = decrypt_secret(c.secret_encrypted)
    except RuntimeError:
        return None, "", "The signing secret cannot be decrypted (encryption key changed?)."
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-ReplyX-Event": c.event_type, "X-ReplyX-Delivery": c.event_id,
               "X-ReplyX-Timestamp": str(timestamp),
               "X-ReplyX-Signature": sign(secret, timestamp, c.body)}
    try:
        answer = await post(c.url, c.body, headers)
    except FetchFailed as exc:
        return None, "", exc.message[:300]
    return answer.status, answer.body, ""


async def _settle(c: _Claimed, status: int | None, answer: str, error: str) -> None:
    ok = status is not None and 200 <= status < 300
    values: dict[str, object] = {"last_status_code": status, "last_response": answer[:1000],
                                 "last_error": error or ("" if ok else f"HTTP {status}")}
    if ok:
        values |= {"status": "delivered", "delivered_at": sa.func.now()}
    elif c.attempts >= MAX_ATTEMPTS:
        values |= {"status": "failed"}
    else:
        values |= {"next_attempt_at": sa.func.now()
                   + timedelta(seconds=retry_delay(c.attempts))}
    async with session_scope() as session:
        await sql_rows(session, sa.update(WebhookDelivery)
                       .where(col(WebhookDelivery.id) == c.id).values(**values)
                       .returning(col(WebhookDelivery.id)))


async def _attempt(c: _Claimed) -> None:
    status, answer, error = await _send(c)
    if error or status is None or not 200 <= status < 300:
        log.info("webhook delivery %s (%s) attempt %s failed: %s", c.id, c.event_type,
                 c.attempts, error or f"HTTP {status}")
    await _settle(c, status, answer, error)


async def deliver_due(limit: int = BATCH) -> int:
    """Send what is due now, at once (one slow receiver does not hold up the others);
    how many were attempted."""
    claimed = await _claim(limit)
    await asyncio.gather(*(_attempt(c) for c in claimed))
    return len(claimed)


KEEP_FINISHED = timedelta(days=30)


async def purge_finished(now: datetime | None = None) -> int:
    """Forget deliveries that ended (delivered, or failed for good) over 30 days ago: the
    log answers "what did my endpoint get lately", and the table would otherwise grow by
    every event of every workspace. Pending ones are never dropped."""
    cutoff = (now or datetime.now(UTC)) - KEEP_FINISHED
    async with session_scope() as session:
        gone = await session.exec(sa.delete(WebhookDelivery).where(  # type: ignore[call-overload]
            col(WebhookDelivery.status).in_(("delivered", "failed")),
            col(WebhookDelivery.created_at) < cutoff))
    return int(gone.rowcount or 0)
