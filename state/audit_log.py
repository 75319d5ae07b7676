"""The audit log viewer: platform admins read every row (/admin/audit), a workspace's
owner the rows of their own workspace (/audit-log). One mixin, two guarded states: the
scope comes from which state the handler is on, checked in the handler, never from the
client's filter."""

from __future__ import annotations

from typing import Any, ClassVar
from urllib.parse import urlencode

import reflex as rx

from backend_services.core.dates import parse_day
from backend_services.core.principal import Principal
from backend_services.identity import audit_viewer
from backend_services.identity.audit_viewer import AuditFilter
from backend_services.models import Role
from state.session import SessionState, guarded

ALL = "all"  # the action filter's "any action" (a select item cannot have the value "")


class _AuditView(rx.State, mixin=True):
    # A class constant, not a state var: nothing the client sends can change the scope.
    own_workspace: ClassVar[bool] = False
    loaded: rx.Field[bool] = rx.field(False)
    lines: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    actions: rx.Field[list[str]] = rx.field(default_factory=list)
    total: rx.Field[int] = rx.field(0)
    page: rx.Field[int] = rx.field(1)
    pages: rx.Field[int] = rx.field(1)
    f_actor: rx.Field[str] = rx.field("")
    f_workspace: rx.Field[str] = rx.field("")
    f_action: rx.Field[str] = rx.field(ALL)
    f_since: rx.Field[str] = rx.field("")
    f_until: rx.Field[str] = rx.field("")

    def _filter(self) -> AuditFilter:
        return AuditFilter(actor=self.f_actor, workspace=self.f_workspace,
                           action="" if self.f_action == ALL else self.f_action,
                           since=parse_day(self.f_since, "start"),
                           until=parse_day(self.f_until, "end"))

    async def _show_page(self, principal: Principal, page: int) -> None:
        result = await audit_viewer.search(principal, self._filter(), page,
                                           own_workspace=self.own_workspace)
        self.lines = [vars(x) for x in result.lines]
        self.total, self.page, self.pages = result.total, result.page, result.pages
        self.loaded = True

    async def _load(self, principal: Principal) -> None:
        self.actions = [ALL, *await audit_viewer.actions(principal,
                                                         own_workspace=self.own_workspace)]
        await self._show_page(principal, 1)

    async def _apply(self, principal: Principal, form: dict[str, Any]) -> None:
        self.f_actor = str(form.get("actor", ""))[:100]
        self.f_workspace = str(form.get("workspace", ""))[:100]
        self.f_action = str(form.get("action", "") or ALL)[:64]
        self.f_since = str(form.get("since", ""))[:10]
        self.f_until = str(form.get("until", ""))[:10]
        await self._show_page(principal, 1)

    @rx.var
    def csv_query(self) -> str:
        return urlencode({k: v for k, v in (
            ("actor", self.f_actor), ("workspace", self.f_workspace),
            ("action", "" if self.f_action == ALL else self.f_action),
            ("since", self.f_since), ("until", self.f_until)) if v})


class AdminAuditState(_AuditView, SessionState):
    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        await self._load(principal)

    @guarded(None, platform_admin=True)
    async def apply(self, form: dict[str, Any], *, principal: Principal) -> None:
        await self._apply(principal, form)

    @guarded(None, platform_admin=True)
    async def go(self, page: int, *, principal: Principal) -> None:
        await self._show_page(principal, int(page))


class WorkspaceAuditState(_AuditView, SessionState):
    own_workspace: ClassVar[bool] = True

    @guarded(Role.OWNER)
    async def load(self, *, principal: Principal) -> None:
        await self._load(principal)

    @guarded(Role.OWNER)
    async def apply(self, form: dict[str, Any], *, principal: Principal) -> None:
        self.f_workspace = ""
        await self._apply(principal, {**form, "workspace": ""})

    @guarded(Role.OWNER)
    async def go(self, page: int, *, principal: Principal) -> None:
        await self._show_page(principal, int(page))
