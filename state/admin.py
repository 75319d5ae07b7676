"""Platform admin panel: accounts (block, platform admin) and address bans (lift)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import reflex as rx

from backend_services.core import bans
from backend_services.core.principal import Principal
from backend_services.identity import platform_admin
from state.session import SessionState, guarded


class AdminState(SessionState):
    users: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    bans: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    query: rx.Field[str] = rx.field("")

    async def _reload(self, principal: Principal) -> None:
        self.users = [asdict(u) for u in await platform_admin.list_users(principal, self.query)]
        self.bans = [
            {
                "address": b.address,
                "reason": b.reason,
                "failures": b.failures,
                "counts": ", ".join(f"{bans.KIND_LABELS.get(k, k)}: {n}" for k, n in b.counts),
                "until": b.until_text(),
            }
            for b in await bans.list_bans(principal)
        ]

    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def search(self, form: dict[str, Any], *, principal: Principal) -> None:
        self.query = str(form.get("q", ""))[:100]
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def set_blocked(self, user_id: int, blocked: bool, *, principal: Principal) -> Any:
        await platform_admin.set_blocked(principal, int(user_id), bool(blocked))
        await self._reload(principal)
        return rx.toast.success("Account blocked." if blocked else "Account unblocked.")

    @guarded(None, platform_admin=True)
    async def lift_ban(self, address: str, *, principal: Principal) -> Any:
        lifted = await bans.lift_ban(principal, str(address))
        await self._reload(principal)
        return rx.toast.success(f"Ban lifted for {lifted.address}.")

    @guarded(None, platform_admin=True)
    async def set_platform_admin(self, user_id: int, granted: bool, *,
                                 principal: Principal) -> Any:
        await platform_admin.set_platform_admin(principal, int(user_id), bool(granted))
        await self._reload(principal)
        return rx.toast.success("Platform administration granted." if granted
                                else "Platform administration revoked.")
