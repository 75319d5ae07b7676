"""The header's workspace switcher and "new workspace", and the Settings card where an
owner renames the workspace."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.core.principal import Principal
from backend_services.identity import my_workspaces
from backend_services.models import Role
from state.reflex_typing import event
from state.session import GO_TO_DASHBOARD, SessionState, guarded


class WorkspacesState(SessionState):
    creating: rx.Field[bool] = rx.field(False)  # the "new workspace" dialog is open

    @event
    def set_creating(self, value: bool) -> None:
        self.creating = value

    async def _into_workspace(self, name: str) -> Any:
        """This tab's session is in another workspace now: drop what it showed (and its
        live links) and load the dashboard afresh."""
        session = await self.get_state(SessionState)
        await session._revoke_live_links()
        return [rx.toast.success(f"You are in {name} now."), rx.call_script(GO_TO_DASHBOARD)]

    @guarded(None)
    async def switch(self, workspace_id: str, *, principal: Principal) -> Any:
        try:
            wanted = int(workspace_id)
        except (TypeError, ValueError):
            return rx.toast.error("Workspace not found.")
        name = await my_workspaces.switch(principal, wanted)
        return await self._into_workspace(name)

    @guarded(None)
    async def create(self, form: dict[str, Any], *, principal: Principal) -> Any:
        name = my_workspaces.clean_name(str(form.get("workspace_name", "")))
        await my_workspaces.create(principal, name)
        self.creating = False
        return await self._into_workspace(name)

    @guarded(Role.OWNER)
    async def rename(self, form: dict[str, Any], *, principal: Principal) -> Any:
        name = await my_workspaces.rename(principal, str(form.get("workspace_name", "")))
        session = await self.get_state(SessionState)
        session.workspace_name = name
        session.workspace_choices = [[i, name if c else n, r, c]
                                     for i, n, r, c in session.workspace_choices]
        return rx.toast.success("Workspace renamed.")
