"""Overview page: what exists in the workspace, at a glance."""

from __future__ import annotations

import reflex as rx

from backend_services.assistants import service as assistants
from backend_services.billing import notices
from backend_services.core.principal import Principal
from backend_services.models import Role
from state.session import SessionState, guarded


class OverviewState(SessionState):
    assistant_count: rx.Field[int] = rx.field(0)
    active_count: rx.Field[int] = rx.field(0)
    loaded: rx.Field[bool] = rx.field(False)
    balance_banner: rx.Field[str] = rx.field("")  # "", "low" or "zero" (admins only)

    @guarded(Role.OPERATOR)
    async def load(self, *, principal: Principal) -> None:
        rows = await assistants.list_assistants(principal)
        self.assistant_count = len(rows)
        self.active_count = sum(1 for a in rows if a.is_active)
        self.balance_banner = (await notices.banner(principal)).state
        self.loaded = True
