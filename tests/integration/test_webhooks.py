"""Outgoing webhooks against a real receiver on 127.0.0.1: events of the workspace's
conversations are stored once, POSTed signed (HMAC-SHA256 over timestamp and body),
retried with backoff after a 500 until delivered, given up after the last attempt, logged
with the receiver's answer; a test event on demand; another workspace sees none of it."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.conversations import dialogs
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from backend_services.core.settings import reset_settings_cache
from backend_services.integrations import webhook_delivery, webhook_events, webhooks
from backend_services.models import WebhookDelivery
from tests.integration.conversation_helpers import ask, shop
from tests.support.webhook_receiver import WebhookReceiver, webhook_receiver

ALL = list(webhooks.EVENTS)


@pytest_asyncio.fixture
async def receiver(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[WebhookReceiver]:
    env.setenv("REPLYX_CRAWL_ALLOW_PRIVATE", "true")  # the receiver is on 127.0.0.1
    reset_settings_cache()
    async with webhook_receiver() as r:
        yield r


async def _rows() -> list[WebhookDelivery]:
    async with session_scope() as s:
        return list(await s.exec(select(WebhookDelivery).order_by(col(WebhookDelivery.id))))


async def _settled() -> None:
    """Let the scan see what just happened (it leaves rows younger than a second for the
    next round, for transactions still committing): everything moves 5 s into the past,
    the endpoints 10 s, so they still predate their events."""
    async with session_scope() as s:
        for statement in (
            "UPDATE webhook_endpoints SET created_at = created_at - interval '10 s', "
            "scanned_until = scanned_until - interval '10 s'",
            "UPDATE dialogs SET created_at = created_at - interval '5 s', "
            "closed_at = closed_at - interval '5 s', rated_at = rated_at - interval '5 s'",
            "UPDATE messages SET created_at = created_at - interval '5 s'",
            "UPDATE handoff_events SET created_at = created_at - interval '5 s'",
        ):
            await s.exec(sa.text(statement))  # type: ignore[call-overload]


async def _due_now() -> None:
    """As if the retry wait had passed (the backoff itself is asserted, not waited for)."""
    async with session_scope() as s:
        await s.exec(sa.update(WebhookDelivery).where(  # type: ignore[call-overload]
            col(WebhookDelivery.status) == "pending").values(next_attempt_at=sa.func.now()))


def _verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    parts = dict(p.split("=", 1) for p in headers["x-replyx-signature"].split(","))
    assert parts["t"] == headers["x-replyx-timestamp"]
    assert abs(int(parts["t"]) - time.time()) < 60
    mac = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(mac.hexdigest(), parts["v1"])


async def test_events_are_stored_once_signed_and_retried_after_a_500(
    receiver: WebhookReceiver,
) -> None:
    a, b = await shop("a"), await shop("b")
    _, secret = await webhooks.create_endpoint(a.owner, receiver.url, ALL, "CRM")
    dialog_id, _ = await ask(a.visitor, "I want to talk to a person", "m1")
    await ask(b.visitor, "I want to talk to a person", "b1")  # another workspace's
    await _settled()
    queued = await webhook_events.collect()
    assert queued >= 3
    assert await webhook_events.collect() == 0  # the overlap finds them again: no doubles
    rows = await _rows()
    assert {r.event_type for r in rows} >= {"dialog.created", "message.created",
                                           "handoff.requested"}
    assert all(r.workspace_id == a.owner.workspace_id for r in rows)
    assert all(r.payload["data"].get("dialog_id", dialog_id) == dialog_id for r in rows)

    receiver.statuses = [500]
    assert await webhook_delivery.deliver_due() == len(rows)
    first = receiver.received[0]
    assert _verify(secret, first.headers, first.body)
    assert not _verify("whsec_wrong", first.headers, first.body)
    sent = json.loads(first.body)
    assert first.headers["x-replyx-delivery"] == sent["id"]
    assert first.headers["x-replyx-event"] == sent["type"]
    after = {r.id: r for r in await _rows()}
    failed = [r for r in after.values() if r.last_status_code == 500]
    assert len(failed) == 1 and failed[0].status == "pending" and failed[0].attempts == 1
    wait = (failed[0].next_attempt_at - datetime.now(UTC)).total_seconds()
    assert 5 < wait <= 13  # about 10 s, with jitter
    assert failed[0].last_response == "receiver is down"
    assert sum(r.status == "delivered" for r in after.values()) == len(rows) - 1

    assert await webhook_delivery.deliver_due() == 0  # not due yet
    await _due_now()
    assert await webhook_delivery.deliver_due() == 1
    again = [x for x in receiver.received
             if x.headers["x-replyx-delivery"] == failed[0].event_id]
    assert len(again) == 2 and again[0].body == again[1].body  # the same event, resent
    assert all(r.status == "delivered" for r in await _rows())

    log = await webhooks.deliveries(a.owner, failed[0].endpoint_id)
    retried = next(d for d in log if d.id == failed[0].id)
    assert (retried.attempts, retried.last_status_code) == (2, 200)


async def test_a_delivery_is_given_up_after_the_last_attempt_and_can_be_sent_again(
    receiver: WebhookReceiver,
) -> None:
    a = await shop("a")
    endpoint, _ = await webhooks.create_endpoint(a.owner, receiver.url, ["dialog.created"])
    delivery_id = await webhooks.send_test_event(a.owner, endpoint.id)
    receiver.statuses = [503] * webhook_delivery.MAX_ATTEMPTS
    for _ in range(webhook_delivery.MAX_ATTEMPTS):
        await _due_now()
        assert await webhook_delivery.deliver_due() == 1
    [row] = await _rows()
    assert (row.status, row.attempts, row.last_status_code) == (
        "failed", webhook_delivery.MAX_ATTEMPTS, 503)
    assert await webhook_delivery.deliver_due() == 0
    await webhooks.retry_delivery(a.owner, delivery_id)
    assert await webhook_delivery.deliver_due() == 1
    [row] = await _rows()
    assert row.status == "delivered" and json.loads(receiver.received[-1].body)["type"] == "test"
    with pytest.raises(ValidationFailed):
        await webhooks.retry_delivery(a.owner, delivery_id)

    # The log keeps ended deliveries for 30 days; a pending one is never dropped.
    pending = await webhooks.send_test_event(a.owner, endpoint.id)
    month_later = datetime.now(UTC) + timedelta(days=31)
    assert await webhook_delivery.purge_finished(month_later) == 1
    assert [r.id for r in await _rows()] == [pending]


async def test_webhooks_are_admin_work_and_walled_off_per_workspace(
    receiver: WebhookReceiver,
) -> None:
    a, b = await shop("a"), await shop("b")
    with pytest.raises(PermissionDenied):
        await webhooks.create_endpoint(a.anna, receiver.url, ALL)
    with pytest.raises(ValidationFailed):
        await webhooks.create_endpoint(a.owner, receiver.url, [])
    with pytest.raises(ValidationFailed):
        await webhooks.create_endpoint(a.owner, "ftp://example.com/x", ALL)
    endpoint, _ = await webhooks.create_endpoint(a.owner, receiver.url, ALL)
    delivery_id = await webhooks.send_test_event(a.owner, endpoint.id)
    for crossing in (webhooks.deliveries(b.owner, endpoint.id),
                     webhooks.send_test_event(b.owner, endpoint.id),
                     webhooks.retry_delivery(b.owner, delivery_id),
                     webhooks.rotate_secret(b.owner, endpoint.id),
                     webhooks.delete_endpoint(b.owner, endpoint.id)):
        with pytest.raises(NotFound):
            await crossing
    assert await webhooks.list_endpoints(b.owner) == []
    assert [e.id for e in await webhooks.list_endpoints(a.owner)] == [endpoint.id]


async def test_a_private_address_is_refused_unless_allowed_and_the_log_says_why(
    clean: None,
) -> None:
    a = await shop("a")
    async with webhook_receiver() as r:
        endpoint, _ = await webhooks.create_endpoint(a.owner, r.url, ALL)
        await webhooks.send_test_event(a.owner, endpoint.id)
        assert await webhook_delivery.deliver_due() == 1
        assert r.received == []
    [row] = await _rows()
    assert row.status == "pending" and "private network" in row.last_error


async def test_a_rating_and_a_closing_are_events_too(receiver: WebhookReceiver) -> None:
    a = await shop("a")
    await webhooks.create_endpoint(a.owner, receiver.url, ["dialog.closed", "dialog.rated"])
    dialog_id, _ = await ask(a.visitor, "Hello", "h1")
    await dialogs.rate(a.visitor, dialog_id, 5)
    await dialogs.close(a.owner, dialog_id, "done")
    await _settled()
    await webhook_events.collect()
    await webhook_delivery.deliver_due()
    got = {json.loads(x.body)["type"]: json.loads(x.body)["data"] for x in receiver.received}
    assert set(got) == {"dialog.closed", "dialog.rated"}
    assert got["dialog.rated"]["dialog"]["rating"] == 5
    assert got["dialog.closed"]["dialog"]["status"] == "closed"
