"""Team page: members, roles, invitations."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict
from typing import Any

import reflex as rx

from backend_services.core.errors import ValidationFailed
from backend_services.core.mailer import MailError
from backend_services.core.principal import Principal
from backend_services.identity import team
from backend_services.models import Role
from state.session import SessionState, guarded


class TeamState(SessionState):
    members: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    invitations: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    loaded: rx.Field[bool] = rx.field(False)
    invite_error: rx.Field[str] = rx.field("")
    me_id: rx.Field[int] = rx.field(0)

    async def _reload(self, principal: Principal) -> None:
        self.members = [asdict(m) for m in await team.list_members(principal)]
        self.invitations = [asdict(i) for i in await team.list_invitations(principal)]
        self.me_id = principal.user_id
        self.loaded = True

    @guarded(Role.ADMIN)
    async def load(self, *, principal: Principal) -> None:
        await self._reload(principal)

    @guarded(Role.ADMIN)
    async def invite(self, form: dict[str, Any], *, principal: Principal) -> Any:
        self.invite_error = ""
        email = str(form.get("email", ""))
        try:
            role = Role(str(form.get("role", "operator")))
        except ValueError:
            self.invite_error = "Choose a role."
            return None
        try:
            await team.invite(principal, email, role)
        except ValidationFailed as exc:
            self.invite_error = exc.message
            return None
        except MailError as exc:
            self.invite_error = str(exc)
            return None
        await self._reload(principal)
        return [rx.toast.success(f"Invitation sent to {email.strip()}."),
                rx.set_value("invite-email", "")]

    async def _done(self, principal: Principal, change: Awaitable[object], message: str) -> Any:
        """Make `change`, show the lists as they are now, and say what was done."""
        await change
        await self._reload(principal)
        return rx.toast.success(message)

    @guarded(Role.ADMIN)
    async def remove(self, membership_id: int, *, principal: Principal) -> Any:
        return await self._done(principal, team.remove_member(principal, int(membership_id)),
                                "Member removed.")

    @guarded(Role.ADMIN)
    async def change_role(self, membership_id: int, role: str, *, principal: Principal) -> Any:
        changed = team.change_role(principal, int(membership_id), Role(role))
        return await self._done(principal, changed, "Role changed.")

    @guarded(Role.ADMIN)
    async def revoke(self, invitation_id: int, *, principal: Principal) -> Any:
        return await self._done(principal, team.revoke_invitation(principal, int(invitation_id)),
                                "Invitation revoked.")
