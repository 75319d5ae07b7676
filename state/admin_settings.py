"""Platform admin → Platform settings: sign-up mode and the limits new workspaces get."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.core.principal import Principal
from backend_services.identity import platform_settings
from backend_services.identity.platform_settings import PlatformSettings
from state.session import SessionState, guarded


class AdminSettingsState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    signup_mode: rx.Field[str] = rx.field("open")
    storage_mb: rx.Field[str] = rx.field("")
    workspaces_per_person: rx.Field[str] = rx.field("")

    def _show_settings(self, s: PlatformSettings) -> None:
        self.signup_mode = s.signup_mode
        self.storage_mb = str(s.new_workspace_storage_mb)
        self.workspaces_per_person = str(s.workspaces_per_person)
        self.loaded = True

    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        self._show_settings(await platform_settings.for_admin(principal))

    @guarded(None, platform_admin=True)
    async def save(self, form: dict[str, Any], *, principal: Principal) -> Any:
        saved = await platform_settings.update(principal, {
            "signup_mode": form.get("signup_mode", ""),
            "new_workspace_storage_mb": form.get("new_workspace_storage_mb", ""),
            "workspaces_per_person": form.get("workspaces_per_person", ""),
        })
        self._show_settings(saved)
        return rx.toast.success("Platform settings saved.")
