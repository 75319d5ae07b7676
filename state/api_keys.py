"""API keys page: the workspace's keys for the public REST API (admins and owners)."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.core.principal import Principal
from backend_services.integrations import api_keys
from backend_services.integrations.api_keys import ApiKeyView
from backend_services.models import Role
from state.reflex_typing import event
from state.session import SessionState, guarded

_WHEN = "%Y-%m-%d %H:%M UTC"


def _row(k: ApiKeyView) -> dict[str, Any]:
    return {"id": k.id, "name": k.name, "prefix": k.prefix, "scopes": ", ".join(k.scopes),
            "created": f"{k.created_at.strftime(_WHEN)} by {k.created_by}",
            "last_used": (f"{k.last_used_at.strftime(_WHEN)} from {k.last_used_ip or '?'}"
                          if k.last_used_at else "never"),
            "revoked": k.revoked}


class ApiKeysState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    keys: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    # The token just made, shown once in a dialog; cleared when the dialog closes.
    new_token: rx.Field[str] = rx.field("")
    form_error: rx.Field[str] = rx.field("")

    async def _reload(self, principal: Principal) -> None:
        self.keys = [_row(k) for k in await api_keys.list_keys(principal)]
        self.loaded = True

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        self.new_token = ""
        await self._reload(principal)

    @guarded(Role.ADMIN)
    async def create(self, form: dict[str, Any], *, principal: Principal) -> None:
        self.form_error = ""
        scopes = [s for s in api_keys.SCOPES if form.get(f"scope_{s}") in ("on", True, "true")]
        made = await api_keys.create_key(principal, str(form.get("name", "")), scopes)
        self.new_token = made.token
        await self._reload(principal)

    @event
    def forget_token(self, _open: bool = False) -> None:
        self.new_token = ""

    @guarded(Role.ADMIN)
    async def revoke(self, key_id: int, *, principal: Principal) -> Any:
        await api_keys.revoke_key(principal, int(key_id))
        await self._reload(principal)
        return rx.toast.success("Key revoked: requests with it are refused from now on.")
