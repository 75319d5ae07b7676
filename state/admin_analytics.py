"""Platform analytics page: the installation's use, AI spend and revenue (platform admins)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import reflex as rx

from backend_services.analytics.platform import platform_report
from backend_services.billing.money import format_money
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from state.analytics import iso_date
from state.session import SessionState, guarded

DEFAULT_DAYS = 30
MICRO = 1_000_000


def _count(n: int) -> str:
    return f"{n:,}".replace(",", "\u202f")


class AdminAnalyticsState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    error: rx.Field[str] = rx.field("")
    since: rx.Field[str] = rx.field("")
    until: rx.Field[str] = rx.field("")
    days: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    weeks: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    totals: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    models: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    revenue: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    revenue_days: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    currencies: rx.Field[list[str]] = rx.field(default_factory=list)
    top: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    quiet: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)

    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        today = datetime.now(UTC).date()
        self.since = (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat()
        self.until = today.isoformat()
        await self._present(principal)

    @guarded(None, platform_admin=True)
    async def apply(self, form: dict[str, Any], *, principal: Principal) -> None:
        self.since, self.until = str(form.get("since", "")), str(form.get("until", ""))
        await self._present(principal)

    async def _present(self, principal: Principal) -> None:
        self.error = ""
        try:
            r = await platform_report(principal, iso_date(self.since), iso_date(self.until))
        except ValidationFailed as exc:
            self.error = exc.message
            return
        self.days = [{"day": d.day[5:], "signups": d.signups, "workspaces": d.workspaces,
                      "active": d.active, "messages": d.messages} for d in r.days]
        self.weeks = [{"week": w[5:], "active": n} for w, n in r.weekly_active]
        self.totals = [
            ["Sign-ups", _count(sum(d.signups for d in r.days))],
            ["New workspaces", _count(sum(d.workspaces for d in r.days))],
            ["Messages", _count(sum(d.messages for d in r.days))],
            ["Active workspaces", _count(r.active)],
        ]
        self.models = [{
            "model": m.model, "provider": m.provider or "—", "calls": _count(m.calls),
            "tokens": f"{_count(m.tokens_in)} / {_count(m.tokens_out)}",
            "cost": format_money(-(-m.cost_micro // MICRO), m.currency) if m.currency
            else "no price set"} for m in r.models]
        self.revenue = [{"currency": v.currency, "payments": _count(v.payments),
                         "amount": format_money(v.amount_minor, v.currency)}
                        for v in r.revenue]
        self.currencies = [v.currency for v in r.revenue]
        self.revenue_days = [{"day": d[5:], **{c: amounts.get(c, 0) / 100
                                               for c in self.currencies}}
                             for d, amounts in r.revenue_days]
        self.top = [{"name": w.name, "id": str(w.workspace_id), "messages": _count(w.messages),
                     "answers": _count(w.answers_charged),
                     "cost": format_money(w.ai_cost_minor, w.currency)} for w in r.top]
        self.quiet = [{"name": q.name, "id": str(q.workspace_id),
                       "last": q.last_active.strftime("%Y-%m-%d")} for q in r.quiet]
        self.loaded = True
