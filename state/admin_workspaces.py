"""Platform admin → Workspaces: the list, one workspace's members and assistants, blocking
with a reason and its storage quota."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import reflex as rx

from backend_services.core.principal import Principal
from backend_services.identity import workspace_admin
from state.reflex_typing import ObjectField, event, object_field
from state.session import SessionState, guarded


class AdminWorkspacesState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    rows: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    query: rx.Field[str] = rx.field("")
    # The workspace open in the side panel (0: none) and what it shows.
    open_id: rx.Field[int] = rx.field(0)
    detail: ObjectField[dict[str, Any]] = object_field(dict)
    members: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    assistants: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    block_open: rx.Field[bool] = rx.field(False)

    async def _reload(self, principal: Principal) -> None:
        self.rows = [asdict(r) for r in
                     await workspace_admin.list_workspaces(principal, self.query)]
        self.loaded = True
        if self.open_id:
            await self._open(principal, self.open_id)

    async def _open(self, principal: Principal, workspace_id: int) -> None:
        d = await workspace_admin.workspace_detail(principal, workspace_id)
        self.open_id = d.row.id
        self.detail = {**asdict(d.row), "bots": d.bots, "storage_used_mb": d.storage_used_mb,
                       "storage_quota_mb": d.storage_quota_mb}
        self.members = [asdict(m) for m in d.members]
        self.assistants = [asdict(a) for a in d.assistants]

    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        self.open_id = 0
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def search(self, form: dict[str, Any], *, principal: Principal) -> None:
        self.query = str(form.get("q", ""))[:100]
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def open_workspace(self, workspace_id: int, *, principal: Principal) -> None:
        await self._open(principal, int(workspace_id))

    @event
    def close_workspace(self) -> None:
        self.open_id = 0
        self.block_open = False

    @event
    def set_block_open(self, value: bool) -> None:
        self.block_open = bool(value)

    @guarded(None, platform_admin=True)
    async def block(self, form: dict[str, Any], *, principal: Principal) -> Any:
        await workspace_admin.set_blocked(principal, self.open_id, True,
                                          str(form.get("reason", "")))
        self.block_open = False
        await self._reload(principal)
        return rx.toast.success("Workspace blocked: its members are out, its widget and "
                                "bots stopped.")

    @guarded(None, platform_admin=True)
    async def unblock(self, *, principal: Principal) -> Any:
        await workspace_admin.set_blocked(principal, self.open_id, False)
        await self._reload(principal)
        return rx.toast.success("Workspace unblocked.")

    @guarded(None, platform_admin=True)
    async def save_quota(self, form: dict[str, Any], *, principal: Principal) -> Any:
        try:
            megabytes = int(str(form.get("quota_mb", "")).strip())
        except ValueError:
            return rx.toast.error("Enter the quota in whole megabytes.")
        await workspace_admin.set_storage_quota(principal, self.open_id, megabytes)
        await self._reload(principal)
        return rx.toast.success("Storage quota saved.")
