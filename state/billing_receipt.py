"""A receipt for one payment of the workspace (printable)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.billing import gateways, payments
from backend_services.billing.money import format_money
from backend_services.core.errors import DomainError
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.session import SessionState, guarded


class ReceiptState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    found: rx.Field[bool] = rx.field(False)
    lines: rx.Field[list[list[str]]] = rx.field(default_factory=list)

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> Any:
        order = str(self.router.url.query_parameters.get("order", ""))[:64]
        try:
            p = await payments.payment(principal, order)
        except DomainError:
            self.found, self.loaded = False, True
            return None
        paid = p.status in ("paid", "refunded") and p.paid_at is not None
        lines = [
            ("Workspace", principal.workspace_name),
            ("Payment", p.order_id),
            ("Paid", p.paid_at.strftime("%Y-%m-%d %H:%M UTC") if paid and p.paid_at
             else "not paid"),
            ("Amount", format_money(p.amount_minor, p.currency)),
            ("Method", gateways.LABELS.get(p.gateway, p.gateway)),
            ("Gateway's payment id", p.gateway_payment_id),
            ("Status", p.status),
        ]
        if p.refunded_minor:
            lines.append(("Refunded", format_money(p.refunded_minor, p.currency)))
        self.lines = [[k, v] for k, v in lines]
        self.found, self.loaded = True, True
        return None
