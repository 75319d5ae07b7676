"""Top-ups: a tenant starts one, the gateway's payment page takes the money, and the
gateway's verified word credits the balance — once per payment, for the order's amount.

The payment row is written before the gateway is called, so every order id a gateway
hears of is ours. A notification is stored before it is handled (`payment_notifications`)
and answered OK only after its effect committed; handling is idempotent (the ledger keys
`payment:<id>` and `refund:<id>:<refunded total>`), so a duplicate, a retry after a crash
or a notification racing the payer's return changes nothing twice. A state that does not
match the order (amount, currency) is not credited: the payment goes to "review" and the
platform admins see it. Nothing a tenant sends can move a balance: the tenant only asks
us to ask the gateway.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.billing import gateways, ledger
from backend_services.billing.gateways.base import (
    Gateway,
    GatewayError,
    Notice,
    NotVerified,
    Order,
    State,
)
from backend_services.billing.ledger import Kind
from backend_services.core import audit, notify
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.settings import get_settings
from backend_services.models import Payment, PaymentNotification, Role, Workspace

log = logging.getLogger(__name__)
FINAL = frozenset({"paid", "failed", "canceled", "refunded", "review"})


@dataclass(frozen=True)
class PaymentView:
    id: int
    order_id: str
    gateway: str
    gateway_payment_id: str
    amount_minor: int
    currency: str
    status: str
    payment_url: str
    failure: str
    refunded_minor: int
    created_at: datetime
    paid_at: datetime | None
    workspace_id: int

    @property
    def final(self) -> bool:
        return self.status in FINAL


def _view(p: Payment) -> PaymentView:
    assert p.id is not None
    return PaymentView(p.id, p.order_id, p.gateway, p.gateway_payment_id or "",
                       p.amount_minor, p.currency, p.status, p.payment_url, p.failure,
                       p.refunded_minor, p.created_at, p.paid_at, p.workspace_id)


def _gateway(name: str) -> Gateway:
    found = gateways.available().get(name)
    if found is None:
        raise ValidationFailed("That payment method is not available.")
    return found


async def start_topup(principal: Principal, gateway_name: str, amount_minor: int) -> PaymentView:
    """Make the order, ask the gateway for its payment page; the view carries its URL."""
    principal.require(Role.ADMIN)
    s = get_settings()
    gateway = _gateway(gateway_name)
    if not s.topup_min_minor <= amount_minor <= s.topup_max_minor:
        raise ValidationFailed(
            f"Top up between {s.topup_min_minor / 100:.2f} and "
            f"{s.topup_max_minor / 100:.2f} {s.currency}.")
    order_id = uuid.uuid4().hex
    async with session_scope() as session:
        workspace = await session.get(Workspace, principal.workspace_id)
        assert workspace is not None
        balance_currency = (await ledger.balance_of(session, principal.workspace_id))[1]
        row = Payment(workspace_id=principal.workspace_id, gateway=gateway.name,
                      order_id=order_id, amount_minor=amount_minor,
                      currency=balance_currency, created_by_user_id=principal.user_id)
        session.add(row)
        await session.flush()
        await audit.record_by(session, principal, "payment_started", f"payment:{row.id}",
                              details={"gateway": gateway.name, "amount_minor": amount_minor})
        name, currency = workspace.name, balance_currency
    base = s.base_url
    order = Order(order_id, amount_minor, currency, f"ReplyX balance top-up: {name}"[:120],
                  return_url=f"{base}/billing/payment?order={order_id}",
                  notification_url=f"{base}/api/payments/{gateway.name}/notify")
    try:
        created = await gateway.create(order)
    except GatewayError as exc:
        await _set(order_id, status="failed", failure=exc.message)
        log.warning("payment %s: %s", order_id, exc.detail)
        raise ValidationFailed(exc.message) from exc
    return await _set(order_id, status="pending", gateway_payment_id=created.gateway_payment_id,
                      payment_url=created.payment_url)


async def _set(order_id: str, *, when: str = "created", **values: Any) -> PaymentView:
    """Set `values` on the payment while it is still `when`; a notification may have
    settled it meanwhile, and then only the gateway's id is filled in."""
    async with session_scope() as session:
        row = (await session.exec(select(Payment).where(col(Payment.order_id) == order_id)
                                  .with_for_update())).one()
        if row.status == when:
            for key, value in values.items():
                setattr(row, key, value)
        elif "gateway_payment_id" in values and not row.gateway_payment_id:
            row.gateway_payment_id = values["gateway_payment_id"]
            row.payment_url = values.get("payment_url", row.payment_url)
        row.updated_at = datetime.now(UTC)
        session.add(row)
        await session.flush()
        return _view(row)


async def _apply(session: AsyncSession, row: Payment, state: State) -> tuple[str, Any]:
    """Move the locked payment to what the gateway vouches for; credit or refund once.
    Returns (what happened, the ledger post to announce)."""
    assert row.id is not None
    if state.gateway_payment_id and row.gateway_payment_id and \
            state.gateway_payment_id != row.gateway_payment_id:
        return "another gateway payment for this order: ignored", None
    row.gateway_payment_id = row.gateway_payment_id or state.gateway_payment_id
    row.updated_at = datetime.now(UTC)
    posted = None
    if state.status == "paid":
        currency = state.currency or row.currency
        if state.amount_minor != row.amount_minor or currency != row.currency:
            if row.status not in ("paid", "refunded"):
                row.status = "review"
                row.failure = (f"the gateway reported {state.amount_minor / 100:.2f} "
                               f"{currency} for an order of {row.amount_minor / 100:.2f} "
                               f"{row.currency}")[:300]
                await audit.record(session, "payment_mismatch", workspace_id=row.workspace_id,
                                   target=f"payment:{row.id}", details={
                                       "reported_minor": state.amount_minor,
                                       "reported_currency": currency})
            return "amount or currency does not match the order: not credited", None
        if row.status in ("paid", "refunded"):
            return "already credited", None
        posted = await ledger.post(session, row.workspace_id, row.amount_minor, Kind.PAYMENT,
                                   f"payment:{row.id}", reference=f"top-up via {row.gateway}",
                                   payment_id=row.id,
                                   details={"gateway_payment_id": row.gateway_payment_id})
        row.status, row.paid_at, row.failure = "paid", datetime.now(UTC), ""
        session.add(row)
        await notify.request(session, row.workspace_id, "payment_paid", f"payment:{row.id}:paid",
                             payment_id=row.id)
        return "credited", posted
    if state.status == "refunded":
        if row.status not in ("paid", "refunded"):
            return "refund of a payment never credited: ignored", None
        total = min(state.refunded_minor or row.amount_minor, row.amount_minor)
        if total <= row.refunded_minor:
            return "refund already applied", None
        posted = await ledger.post(session, row.workspace_id, -(total - row.refunded_minor),
                                   Kind.REFUND, f"refund:{row.id}:{total}",
                                   reference=f"refund via {row.gateway}", payment_id=row.id)
        row.refunded_minor, row.status = total, "refunded"
        session.add(row)
        return "refunded", posted
    if state.status in ("failed", "canceled"):
        if row.status == "paid":
            # Money that arrived and was then taken back (a reversal after success).
            return await _apply(session, row, State(
                state.gateway_payment_id, state.order_id, "refunded", row.amount_minor,
                row.currency, refunded_minor=row.amount_minor))
        if row.status in ("created", "pending"):
            row.status, row.failure = state.status, state.reason[:300]
            session.add(row)
            if state.status == "failed":  # a payer who cancels knows it already
                await notify.request(session, row.workspace_id, "payment_failed",
                                     f"payment:{row.id}:failed", payment_id=row.id)
            return state.status, None
        return f"already {row.status}", None
    return "still pending", None


async def _settle(gateway: str, state: State) -> tuple[int | None, str]:
    """Apply a verified state to its payment; (payment id or None, outcome)."""
    async with session_scope() as session:
        query = select(Payment).where(col(Payment.gateway) == gateway)
        if state.order_id:
            query = query.where(col(Payment.order_id) == state.order_id)
        else:
            query = query.where(col(Payment.gateway_payment_id) == state.gateway_payment_id)
        row = (await session.exec(query.with_for_update())).first()
        if row is None:
            return None, "no such order"
        outcome, _ = await _apply(session, row, state)
        payment_id = row.id
    return payment_id, outcome


@dataclass(frozen=True)
class Reply:
    status_code: int
    body: str
    media_type: str = "text/plain"


async def handle_notification(gateway_name: str, body: bytes, remote_ip: str) -> Reply:
    """Store, verify, apply, then answer: a 2xx only once the effect is committed. A
    gateway that is not configured here gets 404 and nothing is stored."""
    gateway = gateways.available().get(gateway_name)
    if gateway is None:
        return Reply(404, "unknown gateway")
    async with session_scope() as session:
        try:
            # PostgreSQL's jsonb holds no NUL: such a body is kept as (cleaned) text.
            payload = json.loads(body) if b"\\u0000" not in body else None
        except ValueError:
            payload = None
        if payload is None:
            payload = {"unparsed": body[:2000].decode(errors="replace").replace("\x00", "")}
        note = PaymentNotification(gateway=gateway.name, remote_ip=remote_ip[:64],
                                   payload=payload)
        session.add(note)
        await session.flush()
        note_id = note.id
    try:
        notice: Notice = await gateway.verify(body, remote_ip)
    except NotVerified as exc:
        async with session_scope() as session:
            await audit.record(session, "payment_notification_refused", ip=remote_ip,
                               target=f"notification:{note_id}",
                               details={"gateway": gateway_name, "why": str(exc)[:200]})
        await _note(note_id, None, f"refused: {exc}")
        return Reply(403, "forbidden")
    payment_id, outcome = await _settle(gateway_name, notice.state)
    await _note(note_id, payment_id, outcome)
    return Reply(200, notice.reply, notice.reply_type)


async def _note(note_id: int | None, payment_id: int | None, outcome: str) -> None:
    async with session_scope() as session:
        note = await session.get(PaymentNotification, note_id)
        if note is not None:
            note.payment_id, note.outcome = payment_id, outcome[:200]
            note.handled_at = datetime.now(UTC)
            session.add(note)


async def payment(principal: Principal, order_id: str) -> PaymentView:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = (await session.exec(select(Payment).where(
            col(Payment.order_id) == str(order_id)[:64],
            col(Payment.workspace_id) == principal.workspace_id))).first()
        if row is None:
            raise NotFound("That payment was not found.")
        return _view(row)


async def _ask(gateway: Gateway, order_id: str, gateway_payment_id: str) -> str:
    """Read one of our payments back from its gateway and apply what it vouches for, as a
    notification would be; the outcome. Raises GatewayError when it cannot be read."""
    state = await gateway.state(gateway_payment_id)
    if state.order_id and state.order_id != order_id:
        return "the gateway names another order: ignored"
    _, outcome = await _settle(gateway.name, replace(
        state, gateway_payment_id=gateway_payment_id, order_id=order_id))
    return outcome


async def refresh(principal: Principal, order_id: str) -> PaymentView:
    """Ask the gateway about one of this workspace's pending payments (the payer is back
    before the notification, or it was lost) and apply what it vouches for."""
    view = await payment(principal, order_id)
    if view.final or not view.gateway_payment_id:
        return view
    try:
        await _ask(_gateway(view.gateway), view.order_id, view.gateway_payment_id)
    except (GatewayError, ValidationFailed) as exc:
        log.info("payment %s: state not read (%s)", view.id, exc)
    return await payment(principal, order_id)


# A pending payment nobody heard about for this long is asked about by the jobs process
# (a lost notification, a payer who closed the tab); one still undecided after
# ABANDON_AFTER is given up (gateways expire their payment pages well before).
RECONCILE_AFTER = timedelta(minutes=2)
ABANDON_AFTER = timedelta(hours=48)
RECONCILE_BATCH = 100


async def reconcile(now: datetime | None = None) -> dict[str, int]:
    """Ask the gateways about pending payments whose word has not come; what each says
    is applied as a notification would be. Returns counts by outcome."""
    moment = now or datetime.now(UTC)
    async with session_scope() as session:
        rows = (await session.exec(
            select(Payment.order_id, Payment.gateway, Payment.gateway_payment_id,
                   Payment.created_at)
            .where(col(Payment.status) == "pending",
                   col(Payment.created_at) < moment - RECONCILE_AFTER)
            .order_by(col(Payment.id)).limit(RECONCILE_BATCH))).all()
    counts: dict[str, int] = {}
    found = gateways.available()
    for order_id, gateway_name, gateway_payment_id, created_at in rows:
        gateway = found.get(gateway_name)
        outcome = "gateway not configured"
        if gateway is not None and gateway_payment_id:
            try:
                outcome = await _ask(gateway, order_id, gateway_payment_id)
            except GatewayError as exc:
                outcome = "gateway unreachable"
                log.info("payment %s: state not read (%s)", order_id, exc.detail)
        if outcome in ("still pending", "gateway not configured", "gateway unreachable") \
                and created_at < moment - ABANDON_AFTER:
            await _set(order_id, when="pending", status="canceled",
                       failure="no word from the gateway in 48 hours")
            outcome = "abandoned"
        counts[outcome] = counts.get(outcome, 0) + 1
    return counts


async def list_payments(principal: Principal, limit: int = 20) -> list[PaymentView]:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        rows = await session.exec(select(Payment).where(
            col(Payment.workspace_id) == principal.workspace_id)
            .order_by(col(Payment.id).desc()).limit(limit))
        return [_view(r) for r in rows]


async def all_payments(principal: Principal, status: str = "",
                       limit: int = 100) -> list[tuple[PaymentView, str]]:
    """Every workspace's payments for the platform admin, newest first, with names."""
    principal.require_platform_admin()
    query = (select(Payment, Workspace.name)
             .join(Workspace, col(Workspace.id) == col(Payment.workspace_id))
             .order_by(col(Payment.id).desc()).limit(limit))
    if status:
        query = query.where(col(Payment.status) == status)
    async with session_scope() as session:
        return [(_view(p), name) for p, name in (await session.exec(query)).all()]
