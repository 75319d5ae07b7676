"""Overview page: the checklist that takes a new workspace to a live assistant, and what
exists in the workspace at a glance."""

from __future__ import annotations

import reflex as rx

from backend_services.assistants import service as assistants
from backend_services.billing import notices
from backend_services.core.principal import Principal
from backend_services.models import Role
from backend_services.onboarding import checklist
from state.session import SessionState, guarded


class OverviewState(SessionState):
    assistant_count: rx.Field[int] = rx.field(0)
    active_count: rx.Field[int] = rx.field(0)
    loaded: rx.Field[bool] = rx.field(False)
    balance_banner: rx.Field[str] = rx.field("")  # "", "low" or "zero" (admins only)
    returning: rx.Field[bool] = rx.field(False)
    # The checklist (admins and owners: operators can take none of its steps).
    show_checklist: rx.Field[bool] = rx.field(False)
    done_steps: rx.Field[list[str]] = rx.field(default_factory=list)
    steps_done: rx.Field[int] = rx.field(0)
    steps_total: rx.Field[int] = rx.field(len(checklist.STEPS))

    async def _load_checklist(self, principal: Principal) -> None:
        found = await checklist.checklist(principal)
        self.done_steps = [s.name for s in found.steps if s.done]
        self.steps_done, self.steps_total = found.done, len(found.steps)
        self.show_checklist = principal.has_role(Role.ADMIN) and not found.hidden

    @guarded(Role.OPERATOR)
    async def load(self, *, principal: Principal) -> None:
        rows = await assistants.list_assistants(principal)
        self.assistant_count = len(rows)
        self.active_count = sum(1 for a in rows if a.is_active)
        self.balance_banner = (await notices.banner(principal)).state
        self.returning = await checklist.signed_in_before(principal)
        await self._load_checklist(principal)
        self.loaded = True

    @guarded(Role.ADMIN)
    async def hide_checklist(self, *, principal: Principal) -> None:
        await checklist.hide(principal)
        await self._load_checklist(principal)
