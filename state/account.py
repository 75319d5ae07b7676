"""Settings → sessions, e-mail address, deleting the account, deleting the workspace."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.core.principal import Principal
from backend_services.identity import account, workspace_deletion
from backend_services.models import Role
from state.session import LOGOUT_SCRIPT, SessionState, guarded

_WHEN = "%Y-%m-%d %H:%M UTC"


class AccountState(SessionState):
    # [handle, device, place, workspace, last seen, "1" if this one]
    sessions: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    email_sent_to: rx.Field[str] = rx.field("")
    delete_after: rx.Field[str] = rx.field("")  # when the workspace goes, if asked

    async def _show_sessions(self, principal: Principal) -> None:
        self.sessions = [[s.handle, s.device, s.ip or "unknown address", s.workspace_name,
                          s.last_seen.strftime(_WHEN), "1" if s.current else ""]
                         for s in await account.list_sessions(principal)]

    @guarded(Role.OPERATOR)
    async def load(self, *, principal: Principal) -> None:
        await self._show_sessions(principal)
        self.email_sent_to = ""
        if principal.has_role(Role.OWNER):
            due = (await workspace_deletion.state_of(principal)).delete_after
            self.delete_after = due.strftime(_WHEN) if due else ""

    @guarded(Role.OPERATOR)
    async def sign_out_one(self, handle: str, *, principal: Principal) -> Any:
        await account.sign_out(principal, str(handle))
        await self._show_sessions(principal)
        return rx.toast.success("Signed out there.")

    @guarded(Role.OPERATOR)
    async def sign_out_others(self, *, principal: Principal) -> Any:
        count = await account.sign_out(principal, None)
        await self._show_sessions(principal)
        return rx.toast.success(f"Signed out of {count} other session(s).")

    @guarded(Role.OPERATOR)
    async def change_email(self, form: dict[str, Any], *, principal: Principal) -> None:
        address = str(form.get("new_email", ""))
        await account.request_email_change(principal, address,
                                           str(form.get("email_password", "")))
        self.email_sent_to = address.strip().lower()

    @guarded(Role.OPERATOR)
    async def delete_account(self, form: dict[str, Any], *, principal: Principal) -> Any:
        await account.delete_account(principal, str(form.get("delete_password", "")))
        return rx.call_script(LOGOUT_SCRIPT)

    @guarded(Role.OWNER)
    async def request_deletion(self, form: dict[str, Any], *, principal: Principal) -> Any:
        due = await workspace_deletion.request(principal, str(form.get("confirm_name", "")))
        self.delete_after = due.strftime(_WHEN)
        return rx.toast.success(f"The workspace will be deleted on {self.delete_after}.")

    @guarded(Role.OWNER)
    async def cancel_deletion(self, *, principal: Principal) -> Any:
        await workspace_deletion.cancel(principal)
        self.delete_after = ""
        return rx.toast.success("Deletion cancelled: the workspace stays.")
