"""The page a payer comes back to from the gateway: the payment's state as the gateway
confirms it (pending → paid or failed), and the balance it made."""

from __future__ import annotations

import asyncio
from typing import Any

import reflex as rx

from backend_services.billing import payments, reports
from backend_services.billing.money import format_money
from backend_services.core.errors import DomainError
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.billing import payment_row
from state.reflex_typing import ObjectField, event, object_field
from state.session import SessionState, fail, guarded

# How long the page keeps asking (the gateway usually confirms within seconds).
WATCH_SECONDS = 180
WATCH_EVERY = 1.5


class PaymentReturnState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    missing: rx.Field[bool] = rx.field(False)
    payment: ObjectField[dict[str, Any]] = object_field(dict)
    balance: rx.Field[str] = rx.field("")
    watching: rx.Field[bool] = rx.field(False)

    def _order(self) -> str:
        return str(self.router.url.query_parameters.get("order", ""))[:64]

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> Any:
        try:
            view = await payments.refresh(principal, self._order())
        except DomainError:
            self.missing, self.loaded = True, True
            return None
        self.payment = payment_row(view)
        overview = await reports.overview(principal, days=1)
        self.balance = format_money(overview.balance_minor, overview.currency)
        self.missing, self.loaded = False, True
        return None if view.final else PaymentReturnState.watch

    @event(background=True)
    async def watch(self) -> Any:
        """Ask again until the gateway has decided; each round re-checks the session."""
        async with self:
            if self.watching:
                return None
            self.watching = True
            order = self._order()
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + WATCH_SECONDS
            while loop.time() < deadline:
                await asyncio.sleep(WATCH_EVERY)  # poll the gateway and our database
                async with self:
                    try:
                        principal = await self._principal(Role.ADMIN)
                        view = await payments.refresh(principal, order)
                        overview = await reports.overview(principal, days=1)
                    except DomainError as exc:
                        return fail(exc)
                    self.payment = payment_row(view)
                    self.balance = format_money(overview.balance_minor, overview.currency)
                    if view.final:
                        return None
        finally:
            async with self:
                self.watching = False
        return None
