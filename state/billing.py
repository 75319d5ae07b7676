"""Billing page: the balance, what it buys, spend per day, and the ledger (owners, admins)."""

from __future__ import annotations

from datetime import date
from typing import Any

import reflex as rx

from backend_services.billing import gateways, notices, payments, reports
from backend_services.billing.money import format_money, parse_amount
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.session import SessionState, guarded

STATUS_LABELS = {"created": "starting", "pending": "waiting for the payment", "paid": "paid",
                 "failed": "failed", "canceled": "canceled", "refunded": "refunded",
                 "review": "held for review"}
KIND_LABELS = {"answer": "AI answer", "document": "Indexed document", "payment": "Payment",
               "adjustment": "Adjustment", "welcome": "Welcome bonus", "refund": "Refund"}


def _date(text: Any) -> date | None:
    value = str(text or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("Dates are written as YYYY-MM-DD.") from None


def _for(e: reports.EntryView) -> str:
    if e.document_id or e.document_title:
        return e.document_title or f"document #{e.document_id}"
    if e.dialog_id:
        return f"{e.reference} · dialog #{e.dialog_id}"
    return e.reference


def payment_row(p: payments.PaymentView) -> dict[str, Any]:
    return {
        "order": p.order_id,
        "time": p.created_at.strftime("%Y-%m-%d %H:%M"),
        "amount": format_money(p.amount_minor, p.currency),
        "method": gateways.LABELS.get(p.gateway, p.gateway),
        "status": p.status,
        "status_label": STATUS_LABELS.get(p.status, p.status),
        "failure": p.failure,
        "receipt": p.status in ("paid", "refunded"),
    }


class BillingState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    balance: rx.Field[str] = rx.field("")
    banner: rx.Field[str] = rx.field("")
    buys: rx.Field[list[str]] = rx.field(default_factory=list)
    prices: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    spent: rx.Field[str] = rx.field("")
    series: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    entries: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    page: rx.Field[int] = rx.field(1)
    pages: rx.Field[int] = rx.field(1)
    total: rx.Field[int] = rx.field(0)
    kind: rx.Field[str] = rx.field("all")
    since: rx.Field[str] = rx.field("")
    until: rx.Field[str] = rx.field("")
    methods: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    method: rx.Field[str] = rx.field("")
    currency: rx.Field[str] = rx.field("")
    topup_error: rx.Field[str] = rx.field("")
    paying: rx.Field[bool] = rx.field(False)
    payments: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)

    def _filters(self) -> reports.Filters:
        return reports.Filters(kind="" if self.kind == "all" else self.kind,
                               since=_date(self.since), until=_date(self.until))

    async def _entries(self, principal: Principal) -> None:
        page = await reports.entries(principal, self._filters(), self.page)
        self.page, self.pages, self.total = page.page, page.pages, page.total
        self.entries = [{
            "id": e.id,
            "time": e.created_at.strftime("%Y-%m-%d %H:%M"),
            "kind": KIND_LABELS.get(e.kind, e.kind),
            "for": _for(e),
            # The console opens any dialog of the workspace by its id.
            "dialog_link": f"/console?d={e.dialog_id}" if e.dialog_id else "",
            "amount": format_money(e.amount_minor, e.currency),
            "credit": e.amount_minor > 0,
            "after": format_money(e.balance_after_minor, e.currency),
            "waived": format_money(e.amount_minor - e.requested_minor, e.currency)
            if e.requested_minor < e.amount_minor else "",
        } for e in page.entries]

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        view = await reports.overview(principal)

        def money(minor: int) -> str:
            return format_money(minor, view.currency)

        sheet = view.sheet
        self.balance, self.spent = money(view.balance_minor), money(view.spent_minor)
        self.banner = (await notices.banner(principal)).state
        buys = []
        if view.answers_left is not None:
            buys.append(f"about {view.answers_left:,} AI answers")
        if view.pages_left is not None:
            buys.append(f"about {view.pages_left:,} indexed pages")
        self.buys = buys
        prices = [("Per AI answer", money(sheet.answer_flat_minor)),
                  ("Model tokens", f"{sheet.token_markup_percent} % of the model's price"),
                  ("Per indexed page (~500 tokens)", money(sheet.page_minor)),
                  ("Per widget message", money(sheet.widget_message_minor)),
                  ("Per Telegram message", money(sheet.telegram_message_minor)),
                  ("Low-balance warning under", money(sheet.low_balance_minor))]
        # Before a platform admin sets prices nothing is charged: no table of zeros.
        self.prices = [[k, v] for k, v in prices] if sheet.id else []
        self.series = [{"day": d.day[5:], "answers": d.answers_minor / 100,
                        "documents": d.documents_minor / 100, "count": d.answers}
                       for d in view.days]
        self.page = 1
        await self._entries(principal)
        self.currency = view.currency
        self.methods = [[name, gateways.LABELS[name]] for name in gateways.available()]
        self.method = self.methods[0][0] if self.methods else ""
        self.payments = [payment_row(p) for p in await payments.list_payments(principal)]
        self.loaded = True

    @guarded(Role.ADMIN)
    async def pay(self, form: dict[str, Any], *, principal: Principal) -> Any:
        """Make the order and send the browser to the gateway's payment page."""
        self.topup_error = ""
        try:
            amount = parse_amount(form.get("amount", ""), "The amount")
            started = await payments.start_topup(principal, str(form.get("method", "")),
                                                 amount)
        except ValidationFailed as exc:
            self.topup_error = exc.message
            return None
        self.paying = True
        return rx.redirect(started.payment_url)

    @guarded(Role.ADMIN)
    async def filter(self, form: dict[str, Any], *, principal: Principal) -> None:
        kind = str(form.get("kind", "all"))
        self.kind = kind if kind == "all" or kind in KIND_LABELS else "all"
        self.since, self.until = str(form.get("since", "")), str(form.get("until", ""))
        self.page = 1
        await self._entries(principal)

    @guarded(Role.ADMIN)
    async def go(self, page: int, *, principal: Principal) -> None:
        self.page = int(page)
        await self._entries(principal)

    @guarded(Role.ADMIN)
    async def export(self, *, principal: Principal) -> Any:
        text = await reports.csv_text(principal, self._filters())
        return rx.download(data=text, filename="replyx-ledger.csv")
