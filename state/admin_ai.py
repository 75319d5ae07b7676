"""Platform admin: AI provider keys (OpenAI-compatible endpoints), their usage and state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import reflex as rx

from backend_services.ai import keys
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from state.reflex_typing import ObjectField, event, object_field
from state.session import SessionState, guarded


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def _quota(used: int, quota: int) -> str:
    return f"{used:,} of {quota:,}" if quota else f"{used:,} (no quota)"


def _row(k: keys.KeyView) -> dict[str, Any]:
    cooling = k.cooling_down
    return {
        "id": k.id,
        "name": k.name,
        "base_url": k.base_url,
        "key_hint": k.key_hint,
        "models": ", ".join(k.models) or "any model",
        "models_raw": ", ".join(k.models),
        "limits": f"{k.requests_per_minute} req/min · {k.tokens_per_minute:,} tok/min",
        "priority": k.priority,
        "rpm": k.requests_per_minute,
        "tpm": k.tokens_per_minute,
        "daily_quota": k.daily_token_quota,
        "monthly_quota": k.monthly_token_quota,
        "today": _quota(k.tokens_today, k.daily_token_quota),
        "month": _quota(k.tokens_this_month, k.monthly_token_quota),
        "state": k.status,
        "reason": k.disabled_reason,
        "cooldown": k.cooldown_until.strftime("%H:%M:%S UTC") if cooling and k.cooldown_until
        else "",
        "last_error": k.last_error,
        "last_error_at": _when(k.last_error_at),
        "last_success_at": _when(k.last_success_at),
        "usage": f"{k.requests_24h} req · {k.tokens_24h:,} tok · {k.errors_24h} "
        + ("error" if k.errors_24h == 1 else "errors"),
        "enabled": k.is_enabled,
    }


def _number(form: dict[str, Any], name: str, default: int) -> int:
    raw = str(form.get(name, "")).strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValidationFailed("Limits, priority and quotas are whole numbers.") from exc


def _settings(form: dict[str, Any]) -> keys.KeySettings:
    return keys.KeySettings(
        name=str(form.get("name", "")), base_url=str(form.get("base_url", "")),
        models=[m.strip() for m in str(form.get("models", "")).split(",") if m.strip()],
        requests_per_minute=_number(form, "rpm", 60),
        tokens_per_minute=_number(form, "tpm", 100_000),
        priority=_number(form, "priority", 100),
        daily_token_quota=_number(form, "daily_quota", 0),
        monthly_token_quota=_number(form, "monthly_quota", 0),
    )


class AdminAIState(SessionState):
    confirm_delete_id: rx.Field[int] = rx.field(0)  # the key the dialog asks about
    items: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    form_error: rx.Field[str] = rx.field("")
    # The key open in the edit dialog (its row as listed; never the secret).
    editing: ObjectField[dict[str, Any]] = object_field(dict)
    edit_open: rx.Field[bool] = rx.field(False)
    edit_error: rx.Field[str] = rx.field("")

    async def _reload(self, principal: Principal) -> None:
        self.items = [_row(k) for k in await keys.list_keys(principal)]

    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def add(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.form_error = ""
        try:
            k = _settings(form)
            await keys.add_key(principal, k.name, k.base_url, str(form.get("api_key", "")),
                               k.models, k.requests_per_minute, k.tokens_per_minute,
                               priority=k.priority, daily_token_quota=k.daily_token_quota,
                               monthly_token_quota=k.monthly_token_quota)
        except ValidationFailed as exc:
            self.form_error = exc.message
            return None
        await self._reload(principal)
        return [rx.toast.success("Key added. It is stored encrypted and will not be shown "
                                 "again."), rx.set_value("ai-api-key", "")]

    @guarded(None, platform_admin=True)
    async def edit(self, key_id: int, *, principal: Principal) -> None:
        await self._reload(principal)
        found = [k for k in self.items if k["id"] == int(key_id)]
        self.editing = found[0] if found else {}
        self.edit_error = ""
        self.edit_open = bool(found)

    @event
    def set_edit_open(self, value: bool) -> None:
        self.edit_open = bool(value)

    @guarded(None, platform_admin=True)
    async def save_edit(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.edit_error = ""
        try:
            await keys.update_key(principal, int(self.editing.get("id", 0)), _settings(form),
                                  new_api_key=str(form.get("new_api_key", "")))
        except ValidationFailed as exc:
            self.edit_error = exc.message
            return None
        rotated = bool(str(form.get("new_api_key", "")).strip())
        self.edit_open = False
        await self._reload(principal)
        return rx.toast.success("Key rotated and saved." if rotated else "Key saved.")

    @guarded(None, platform_admin=True)
    async def set_enabled(self, key_id: int, enabled: bool, *, principal: Principal) -> None:
        await keys.set_enabled(principal, int(key_id), bool(enabled))
        await self._reload(principal)

    @event
    def ask_delete(self, key_id: int) -> None:
        self.confirm_delete_id = int(key_id)

    @event
    def cancel_delete(self) -> None:
        self.confirm_delete_id = 0

    @guarded(None, platform_admin=True)
    async def delete(self, key_id: int, *, principal: Principal) -> Any:
        await keys.delete_key(principal, int(key_id))
        self.confirm_delete_id = 0
        await self._reload(principal)
        return rx.toast.success("Key deleted.")
