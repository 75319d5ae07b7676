"""Platform admin: the price sheet (history, scheduling) and workspaces' balances."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import reflex as rx

from backend_services.ai import pricing
from backend_services.billing import adjustments, gateways, payments, tariffs
from backend_services.billing.money import format_money, major, parse_amount
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from state.reflex_typing import ObjectField, object_field
from state.session import SessionState, guarded

# Form field -> (sheet field, label): amounts typed in major units.
AMOUNTS = {
    "answer_flat": ("answer_flat_minor", "The price per answer"),
    "page": ("page_minor", "The price per page"),
    "widget_message": ("widget_message_minor", "The price per widget message"),
    "telegram_message": ("telegram_message_minor", "The price per Telegram message"),
    "welcome_bonus": ("welcome_bonus_minor", "The welcome bonus"),
    "low_balance": ("low_balance_minor", "The low-balance threshold"),
}


def _start(text: Any) -> datetime | None:
    value = str(text or "").strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed("The start is a date and time, e.g. 2027-01-01T00:00.") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _sheet_row(t: tariffs.TariffView, now: datetime) -> dict[str, Any]:
    def money(minor: int) -> str:
        return format_money(minor, t.currency)

    started = t.effective_from is not None and t.effective_from <= now
    return {
        "id": t.id,
        "from": t.effective_from.strftime("%Y-%m-%d %H:%M UTC") if t.effective_from else "",
        "scheduled": not started,
        "answer": money(t.answer_flat_minor),
        "markup": f"{t.token_markup_percent} %",
        "page": money(t.page_minor),
        "messages": f"{money(t.widget_message_minor)} / {money(t.telegram_message_minor)}",
        "bonus": money(t.welcome_bonus_minor),
        "low": money(t.low_balance_minor),
    }


class AdminBillingState(SessionState):
    currency: rx.Field[str] = rx.field("")
    sheets: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    in_force_id: rx.Field[int] = rx.field(0)
    current: ObjectField[dict[str, str]] = object_field(dict)
    workspaces: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    search: rx.Field[str] = rx.field("")
    sheet_error: rx.Field[str] = rx.field("")
    adjust_error: rx.Field[str] = rx.field("")
    payments: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    models: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    model_error: rx.Field[str] = rx.field("")
    loaded: rx.Field[bool] = rx.field(False)

    async def _reload(self, principal: Principal) -> None:
        now = datetime.now(UTC)
        sheet = await tariffs.current()
        self.currency, self.in_force_id = sheet.currency, sheet.id
        self.current = {f: major(getattr(sheet, minor)) for f, (minor, _) in AMOUNTS.items()}
        self.current["markup"] = str(sheet.token_markup_percent if sheet.id else 100)
        self.sheets = [_sheet_row(t, now) for t in await tariffs.history(principal)]
        self.workspaces = [
            {"id": w.workspace_id, "name": w.name,
             "balance": format_money(w.balance_minor, w.currency or sheet.currency)}
            for w in await adjustments.balances(principal, self.search)]
        self.payments = [{
            "time": p.created_at.strftime("%Y-%m-%d %H:%M"), "workspace": name,
            "amount": format_money(p.amount_minor, p.currency),
            "gateway": gateways.LABELS.get(p.gateway, p.gateway),
            "gateway_id": p.gateway_payment_id, "order": p.order_id, "status": p.status,
            "failure": p.failure,
        } for p, name in await payments.all_payments(principal)]
        self.models = [{
            "model": m.model,
            "input": pricing.format_micro(m.input_per_mtok_micro, m.currency),
            "output": pricing.format_micro(m.output_per_mtok_micro, m.currency),
            "since": m.effective_from.strftime("%Y-%m-%d %H:%M UTC"),
        } for m in await pricing.list_prices(principal)]
        self.loaded = True

    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def save_sheet(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.sheet_error = ""
        try:
            values = {minor: parse_amount(form.get(f, "0") or "0", label)
                      for f, (minor, label) in AMOUNTS.items()}
            markup = str(form.get("markup", "100")).strip() or "0"
            if not markup.isdigit():
                raise ValidationFailed("The token markup is a whole percentage, e.g. 150.")
            start = _start(form.get("starts"))
            view = await tariffs.set_tariff(principal, token_markup_percent=int(markup),
                                            effective_from=start, **values)
        except ValidationFailed as exc:
            self.sheet_error = exc.message
            return None
        await self._reload(principal)
        when = "now" if view.id == self.in_force_id else "from its start"
        return rx.toast.success(f"Prices saved: they apply {when}.")

    @guarded(None, platform_admin=True)
    async def save_model_price(self, form: dict[str, Any], *, principal: Principal) -> Any:
        """A model's token prices per million tokens, in the platform currency, from now."""
        self.model_error = ""
        try:
            view = await pricing.set_price(
                principal, str(form.get("model", "")),
                pricing.parse_price(form.get("input", ""), "input"),
                pricing.parse_price(form.get("output", ""), "output"), self.currency)
        except ValidationFailed as exc:
            self.model_error = exc.message
            return None
        await self._reload(principal)
        # Cleared only once saved: a refused entry stays to be corrected.
        return [rx.toast.success(f"Prices of {view.model} saved."),
                *(rx.set_value(i, "") for i in ("model-name", "model-input", "model-output"))]

    @guarded(None, platform_admin=True)
    async def withdraw(self, tariff_id: int, *, principal: Principal) -> Any:
        await tariffs.cancel_scheduled(principal, int(tariff_id))
        await self._reload(principal)
        return rx.toast.success("The scheduled prices were withdrawn.")

    @guarded(None, platform_admin=True)
    async def find(self, form: dict[str, Any], *, principal: Principal) -> None:
        self.search = str(form.get("search", ""))[:120]
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def adjust(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.adjust_error = ""
        try:
            target = str(form.get("workspace_id", "")).strip()
            if not target.isdigit():
                raise ValidationFailed("Choose the workspace by its number.")
            amount = parse_amount(form.get("amount", ""), "The amount", negative=True)
            posted = await adjustments.adjust(principal, int(target), amount,
                                              str(form.get("reason", "")))
        except ValidationFailed as exc:
            self.adjust_error = exc.message
            return None
        await self._reload(principal)
        return rx.toast.success(
            f"Balance of workspace {target} is now "
            f"{format_money(posted.balance_after_minor, self.currency)}.")
