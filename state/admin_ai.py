"""Platform admin: AI provider keys (OpenAI-compatible endpoints), their usage and state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import reflex as rx

from backend_services.ai import keys
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from state.session import SessionState, guarded


def _row(k: keys.KeyView) -> dict[str, Any]:
    now = datetime.now(UTC)
    cooling = k.cooldown_until is not None and k.cooldown_until > now
    state = ("disabled" if not k.is_enabled else "cooling down" if cooling else "active")
    return {
        "id": k.id,
        "name": k.name,
        "base_url": k.base_url,
        "key_hint": k.key_hint,
        "models": ", ".join(k.models) or "any model",
        "limits": f"{k.requests_per_minute} req/min · {k.tokens_per_minute:,} tok/min",
        "state": state,
        "reason": k.disabled_reason,
        "cooldown": k.cooldown_until.strftime("%H:%M:%S UTC") if cooling and k.cooldown_until
        else "",
        "usage": f"{k.requests_24h} req · {k.tokens_24h:,} tok · {k.errors_24h} "
        + ("error" if k.errors_24h == 1 else "errors"),
        "enabled": k.is_enabled,
    }


class AdminAIState(SessionState):
    items: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    form_error: rx.Field[str] = rx.field("")

    async def _reload(self, principal: Principal) -> None:
        self.items = [_row(k) for k in await keys.list_keys(principal)]

    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def add(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.form_error = ""
        try:
            rpm = int(str(form.get("rpm", "60")) or 60)
            tpm = int(str(form.get("tpm", "100000")) or 100000)
        except ValueError:
            self.form_error = "Limits must be whole numbers."
            return None
        models = [m.strip() for m in str(form.get("models", "")).split(",") if m.strip()]
        try:
            await keys.add_key(principal, str(form.get("name", "")), str(form.get("base_url", "")),
                               str(form.get("api_key", "")), models, rpm, tpm)
        except ValidationFailed as exc:
            self.form_error = exc.message
            return None
        await self._reload(principal)
        return [rx.toast.success("Key added. It is stored encrypted and will not be shown "
                                 "again."), rx.set_value("ai-api-key", "")]

    @guarded(None, platform_admin=True)
    async def set_enabled(self, key_id: int, enabled: bool, *, principal: Principal) -> None:
        await keys.set_enabled(principal, int(key_id), bool(enabled))
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def delete(self, key_id: int, *, principal: Principal) -> Any:
        await keys.delete_key(principal, int(key_id))
        await self._reload(principal)
        return rx.toast.success("Key deleted.")
