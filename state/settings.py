"""Settings page: the user's own profile and password."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.identity import auth
from backend_services.models import Role
from state.session import SessionState, guarded


class SettingsState(SessionState):
    profile_name: rx.Field[str] = rx.field("")
    password_error: rx.Field[str] = rx.field("")

    @guarded(Role.OPERATOR)
    async def load(self, *, principal: Principal) -> None:
        self.profile_name = principal.name

    @guarded(Role.OPERATOR)
    async def save_profile(self, form: dict[str, Any], *, principal: Principal) -> Any:
        await auth.update_profile(principal, str(form.get("name", "")))
        self.user_name = str(form.get("name", "")).strip()
        self.profile_name = self.user_name
        return rx.toast.success("Profile saved.")

    @guarded(Role.OPERATOR)
    async def change_password(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.password_error = ""
        new = str(form.get("new_password", ""))
        if new != str(form.get("new_password2", "")):
            self.password_error = "The two new passwords differ."
            return None
        try:
            await auth.change_password(principal, str(form.get("current_password", "")), new)
        except ValidationFailed as exc:
            self.password_error = exc.message
            return None
        return [rx.toast.success("Password changed."), rx.set_value("current_password", ""),
                rx.set_value("new_password", ""), rx.set_value("new_password2", "")]
