"""Top-ups through both gateways' emulators, over real HTTP both ways: our API receives the
notifications the emulators send. A balance grows only by a verified payment, once per
gateway payment, for the order's amount; forged, altered, repeated and unknown
notifications change nothing (a forged one is refused and audited); declines, reversals,
refunds, a payer back before the notification, and a gateway that fails or stalls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from sqlmodel import col, select

from backend_services.billing import payments
from backend_services.core.db import dispose_engine, session_scope
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from backend_services.core.settings import reset_settings_cache
from backend_services.models import AuditLog, LedgerEntry, PaymentNotification
from backend_services.notifications import service as notifications
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from tests.integration.conversation_helpers import Shop, shop
from tests.integration.test_fleet import _proxy_for, _through
from tests.support.api_server import serve
from tests.support.balances import balance
from tests.support.payment_gateways import TinkoffServer, YooKassaServer
from tests.support.smtp_server import SmtpTestServer


@dataclass
class Gateways:
    api: str
    tinkoff: TinkoffServer
    yookassa: YooKassaServer


@pytest_asyncio.fixture
async def gw(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[Gateways]:
    tinkoff, yookassa = TinkoffServer(), YooKassaServer()
    await tinkoff.start()
    await yookassa.start()
    env.setenv("REPLYX_CURRENCY", "RUB")
    env.setenv("REPLYX_TINKOFF_API_URL", tinkoff.api_url)
    env.setenv("REPLYX_TINKOFF_TERMINAL_KEY", tinkoff.terminal_key)
    env.setenv("REPLYX_TINKOFF_PASSWORD", tinkoff.password)
    env.setenv("REPLYX_YOOKASSA_API_URL", yookassa.api_url)
    env.setenv("REPLYX_YOOKASSA_SHOP_ID", yookassa.shop_id)
    env.setenv("REPLYX_YOOKASSA_SECRET_KEY", yookassa.secret_key)
    env.setenv("REPLYX_YOOKASSA_CHECK_SOURCE", "false")  # the emulator is on 127.0.0.1
    env.setenv("REPLYX_PAYMENT_TIMEOUT_SECONDS", "2")
    try:
        async with serve(SecurityAndMetrics(build_api())) as url:
            env.setenv("REPLYX_PUBLIC_URL", url)
            reset_settings_cache()
            yookassa.webhook_url = f"{url}/api/payments/yookassa/notify"
            yield Gateways(url, tinkoff, yookassa)
    finally:
        await tinkoff.stop()
        await yookassa.stop()



async def _credits(workspace_id: int) -> list[LedgerEntry]:
    async with session_scope() as session:
        return list(await session.exec(select(LedgerEntry).where(
            col(LedgerEntry.workspace_id) == workspace_id,
            col(LedgerEntry.kind).in_(("payment", "refund"))).order_by(col(LedgerEntry.id))))


async def _payer(url: str, action: str) -> str:
    """The payer on the gateway's page presses a button; where they are sent back to."""
    async with httpx.AsyncClient() as client:
        page = await client.get(url)
        assert page.status_code == 200 and 'id="pay"' in page.text
        done = await client.post(url, data={"action": action})
    assert done.status_code == 303
    return done.headers["location"]


async def _shop() -> Shop:
    return await shop("a")


async def test_a_tinkoff_payment_credits_once_however_often_it_is_notified(
    gw: Gateways
) -> None:
    s = await _shop()
    started = await payments.start_topup(s.owner, "tinkoff", 50_000)
    assert started.status == "pending" and started.payment_url.startswith(gw.tinkoff.base_url)
    sent_to = gw.tinkoff.payments[int(started.gateway_payment_id)]
    assert sent_to.amount == 50_000 and sent_to.currency == 643
    assert sent_to.notification_url == f"{gw.api}/api/payments/tinkoff/notify"

    back = await _payer(started.payment_url, "pay")
    assert back == f"{gw.api}/billing/payment?order={started.order_id}"
    assert (gw.tinkoff.sent[-1].status, gw.tinkoff.sent[-1].reply) == (200, "OK")
    assert await balance(s.owner.workspace_id) == 50_000
    view = await payments.payment(s.owner, started.order_id)
    assert view.status == "paid" and view.paid_at is not None

    # T-Bank repeats a notification it thinks was lost: answered OK, credited once.
    again = await gw.tinkoff.notify(sent_to.payment_id, "CONFIRMED")
    assert (again.status, again.reply) == (200, "OK")
    [credit] = await _credits(s.owner.workspace_id)
    assert (credit.amount_minor, credit.payment_id) == (50_000, view.id)
    async with session_scope() as session:
        notes = list(await session.exec(select(PaymentNotification)))
    assert [n.outcome for n in notes] == ["credited", "already credited"]
    assert all(n.payment_id == view.id and n.handled_at is not None for n in notes)


async def test_forged_altered_and_unknown_tinkoff_notifications_change_nothing(
    gw: Gateways
) -> None:
    s = await _shop()
    started = await payments.start_topup(s.owner, "tinkoff", 10_000)
    pid = int(started.gateway_payment_id)

    forged = await gw.tinkoff.notify(pid, "CONFIRMED", forge=True)
    assert forged.status == 403
    async with session_scope() as session:
        refused = list(await session.exec(select(AuditLog).where(
            col(AuditLog.action) == "payment_notification_refused")))
    assert len(refused) == 1 and refused[0].ip == "127.0.0.1"
    assert (await payments.payment(s.owner, started.order_id)).status == "pending"

    # Signed, but for another amount than the order: not credited, held for review.
    altered = await gw.tinkoff.notify(pid, "CONFIRMED", amount=1_000_000)
    assert (altered.status, altered.reply) == (200, "OK")
    view = await payments.payment(s.owner, started.order_id)
    assert view.status == "review" and "10000.00" in view.failure

    # Signed, for an order nobody made here: answered (no use retrying), nothing moves.
    unknown = await gw.tinkoff.notify(pid, "CONFIRMED", order_id="not-ours")
    assert unknown.status == 200
    assert await balance(s.owner.workspace_id) == 0
    assert await _credits(s.owner.workspace_id) == []

    # A body that is not even JSON.
    async with httpx.AsyncClient() as client:
        junk = await client.post(f"{gw.api}/api/payments/tinkoff/notify", content=b"\x00{")
        other = await client.post(f"{gw.api}/api/payments/paypal/notify", json={})
    assert junk.status_code == 403 and other.status_code == 404


async def test_a_declined_card_and_a_reversal_after_success(
    gw: Gateways, smtp: SmtpTestServer
) -> None:
    s = await _shop()
    smtp.forget()
    declined = await payments.start_topup(s.owner, "tinkoff", 5_000)
    back = await _payer(declined.payment_url, "decline")
    assert back.endswith(declined.order_id)
    assert (await payments.payment(s.owner, declined.order_id)).status == "failed"
    assert await balance(s.owner.workspace_id) == 0

    paid = await payments.start_topup(s.owner, "tinkoff", 7_000)
    await _payer(paid.payment_url, "pay")
    assert await balance(s.owner.workspace_id) == 7_000
    # The bank takes it back after success (REVERSED): the credit is reversed, once.
    await gw.tinkoff.notify(int(paid.gateway_payment_id), "REVERSED")
    await gw.tinkoff.notify(int(paid.gateway_payment_id), "REFUNDED")
    assert await balance(s.owner.workspace_id) == 0
    assert [(c.kind, c.amount_minor) for c in await _credits(s.owner.workspace_id)] == [
        ("payment", 7_000), ("refund", -7_000)]
    assert (await payments.payment(s.owner, paid.order_id)).status == "refunded"

    # The owner hears of both, once each, in the mail the jobs process sends.
    await notifications.run_once(with_weekly=False)
    failed = await asyncio.to_thread(smtp.wait_for, "owner-a@example.com", "did not go through")
    assert "50.00" in failed.subject and "/billing" in failed.text
    received = await asyncio.to_thread(smtp.wait_for, "owner-a@example.com", "received")
    assert "70.00" in received.subject and f"order={paid.order_id}" in received.text
    await notifications.run_once(with_weekly=False)
    assert smtp.count_to("owner-a@example.com") == 2
    assert smtp.count_to("anna-a@example.com") == 0  # operators are not told about money


async def test_a_gateway_that_refuses_fails_or_stalls_gives_a_clear_error(
    gw: Gateways
) -> None:
    s = await _shop()
    for trouble, says in (("refuse", "refused"), ("http500", "failed"),
                          ("stall", "did not answer in time")):
        gw.tinkoff.misbehave(trouble)  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed, match=says):
            await payments.start_topup(s.owner, "tinkoff", 5_000)
    gw.tinkoff.misbehave("")
    assert [p.status for p in await payments.list_payments(s.owner)] == ["failed"] * 3
    with pytest.raises(ValidationFailed, match="Top up between"):
        await payments.start_topup(s.owner, "tinkoff", 1)
    with pytest.raises(ValidationFailed, match="not available"):
        await payments.start_topup(s.owner, "paypal", 5_000)


async def test_a_yookassa_payment_is_trusted_only_as_read_back_from_its_api(
    gw: Gateways
) -> None:
    s = await _shop()
    started = await payments.start_topup(s.owner, "yookassa", 30_000)
    created = gw.yookassa.payment_for(started.order_id)
    assert created["amount"] == {"value": "300.00", "currency": "RUB"}

    # Someone posts "succeeded" for the payment; YooKassa itself says it is pending.
    fake = dict(created, status="succeeded", paid=True)
    claimed = await gw.yookassa.send("payment.succeeded", fake)
    assert claimed.status == 200
    assert await balance(s.owner.workspace_id) == 0
    # …or for a payment YooKassa never made: refused and audited.
    invented = await gw.yookassa.send("payment.succeeded", dict(fake, id="2f0a-none"))
    assert invented.status == 403

    await _payer(started.payment_url, "pay")
    assert gw.yookassa.sent[-1].status == 200
    assert await balance(s.owner.workspace_id) == 30_000
    await gw.yookassa.succeed(created["id"])  # a repeat
    # A partial refund, told twice: taken back once.
    await gw.yookassa.refund(created["id"], "120.00")
    await gw.yookassa.refund(created["id"], "120.00")
    assert await balance(s.owner.workspace_id) == 18_000
    assert [(c.kind, c.amount_minor) for c in await _credits(s.owner.workspace_id)] == [
        ("payment", 30_000), ("refund", -12_000)]


async def test_the_payer_back_before_the_notification_sees_it_paid(gw: Gateways) -> None:
    s = await _shop()
    started = await payments.start_topup(s.owner, "yookassa", 9_900)
    payment = gw.yookassa.payment_for(started.order_id)
    payment.update(status="succeeded", paid=True)  # paid; the notification is not out yet
    view = await payments.refresh(s.owner, started.order_id)
    assert view.status == "paid" and await balance(s.owner.workspace_id) == 9_900
    await gw.yookassa.succeed(payment["id"])  # it arrives after all: nothing more
    assert await balance(s.owner.workspace_id) == 9_900


async def test_yookassa_notifications_from_outside_its_addresses_are_refused(
    gw: Gateways, env: pytest.MonkeyPatch
) -> None:
    env.setenv("REPLYX_YOOKASSA_CHECK_SOURCE", "true")
    reset_settings_cache()
    s = await _shop()
    started = await payments.start_topup(s.owner, "yookassa", 5_000)
    payment = gw.yookassa.payment_for(started.order_id)
    sent = await gw.yookassa.succeed(payment["id"])
    assert sent.status == 403 and await balance(s.owner.workspace_id) == 0


async def test_payments_are_walled_off_between_workspaces(gw: Gateways) -> None:
    a, b = await shop("a"), await shop("b")
    started = await payments.start_topup(a.owner, "tinkoff", 5_000)
    with pytest.raises(NotFound):
        await payments.payment(b.owner, started.order_id)
    with pytest.raises(NotFound):
        await payments.refresh(b.owner, started.order_id)
    assert await payments.list_payments(b.owner) == []
    with pytest.raises(PermissionDenied):  # operators do not spend the workspace's money
        await payments.start_topup(a.anna, "tinkoff", 5_000)
    with pytest.raises(PermissionDenied):
        await payments.all_payments(a.owner)


async def test_a_notification_during_a_database_outage_is_refused_then_credited_once(
    gw: Gateways, env: pytest.MonkeyPatch, services: dict[str, str]
) -> None:
    s = await _shop()
    started = await payments.start_topup(s.owner, "tinkoff", 4_200)
    proxy = _proxy_for(services["DATABASE_URL"])
    await proxy.start()
    env.setenv("DATABASE_URL", _through(services["DATABASE_URL"], proxy))
    reset_settings_cache()
    await dispose_engine()  # the next connections go through the proxy
    try:
        await proxy.cut()
        during = await gw.tinkoff.notify(int(started.gateway_payment_id), "CONFIRMED")
        assert during.status == 503  # not OK: T-Bank sends it again
        await proxy.restore()
        after = await gw.tinkoff.notify(int(started.gateway_payment_id), "CONFIRMED")
        assert (after.status, after.reply) == (200, "OK")
    finally:
        await proxy.restore()
        env.setenv("DATABASE_URL", services["DATABASE_URL"])
        reset_settings_cache()
        await dispose_engine()
        await proxy.stop()
    assert await balance(s.owner.workspace_id) == 4_200
    assert len(await _credits(s.owner.workspace_id)) == 1


async def test_a_currency_other_than_the_orders_is_not_credited(gw: Gateways) -> None:
    s = await _shop()
    started = await payments.start_topup(s.owner, "yookassa", 5_000)
    payment = gw.yookassa.payment_for(started.order_id)
    payment["amount"] = {"value": "50.00", "currency": "USD"}  # the order was in RUB
    await gw.yookassa.succeed(payment["id"])
    view = await payments.payment(s.owner, started.order_id)
    assert view.status == "review" and "USD" in view.failure
    assert await balance(s.owner.workspace_id) == 0


async def test_pending_payments_whose_word_was_lost_are_asked_about_by_the_jobs(
    gw: Gateways
) -> None:
    s = await _shop()
    lost = await payments.start_topup(s.owner, "yookassa", 6_000)
    gw.yookassa.payment_for(lost.order_id).update(status="succeeded", paid=True)  # no event
    silent = await payments.start_topup(s.owner, "tinkoff", 3_000)  # the payer went away

    assert await payments.reconcile() == {}  # too recent to ask about yet
    soon = datetime.now(UTC) + timedelta(minutes=5)
    assert await payments.reconcile(soon) == {"credited": 1, "still pending": 1}
    assert await balance(s.owner.workspace_id) == 6_000
    assert await payments.reconcile(soon) == {"still pending": 1}

    later = datetime.now(UTC) + timedelta(hours=49)
    assert await payments.reconcile(later) == {"abandoned": 1}
    view = await payments.payment(s.owner, silent.order_id)
    assert view.status == "canceled" and "48 hours" in view.failure
    assert await balance(s.owner.workspace_id) == 6_000
