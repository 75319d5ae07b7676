"""Live links follow access: a staff tab stops receiving a workspace's conversations as
soon as the session that linked it may no longer see them.

A Reflex shared-state link outlives the check made when it was created: the tab's state
keeps `_reflex_internal_links`, the shared state keeps the tab in `_linked_from`, every
change is pushed down the link, and the tab's next (re)connect hydrates with the linked
data — whoever is signed in by then. So every link an operator's tab makes goes through
`link_staff`, which records the session (and workspace) it was made under, and the links
are re-checked against the tab's *current* session, from the cookie of its websocket:

- at every (re)connect, before the snapshot is sent (`replyx_app.live_access`'s
  middleware): a tab that signed out, or signed into another workspace, gets nothing of
  the old one, and its per-user state starts from the defaults;
- at once when access ends — sign-out, removal, role change, block, password reset: the
  services publish `UserAccessChanged`, and one web worker re-checks that user's tabs;
- by a sweep every minute, for sessions that simply expire (idle or absolute limit);
- in every guarded handler that finds the session gone.

A revoked link is unlinked (the tab leaves the shared state's `_linked_from`, so nothing
more is pushed to it) and the tab's session-bound state is reset.
"""

from __future__ import annotations

import logging
from typing import TypeVar

import reflex as rx

from backend_services.core.errors import NotAuthenticated
from backend_services.core.principal import Principal
from backend_services.identity import auth
from backend_services.models import Role
from state import live_tabs
from state.cookies import read_session_cookie
from state.session import SessionState

log = logging.getLogger(__name__)

S = TypeVar("S", bound=rx.State)

_MINIMUM_ROLE = Role.OPERATOR


def _binding(p: Principal) -> str:
    """What a staff link is valid for: this login (session) in this workspace."""
    return f"{p.session_key}:{p.workspace_id}"


async def link_staff(state: rx.State, cls: type[S], token: str, principal: Principal) -> S:
    """Link this tab's `cls` to `token` for `principal`, who has been checked for it."""
    session = await state.get_state(SessionState)
    binding = _binding(principal)
    if session._live_binding and session._live_binding != binding:
        # Made under another login: the reconnect check normally catches this first.
        await session._revoke_live_links()
    linked = await (await state.get_state(cls))._link_to(token)  # type: ignore[attr-defined]
    name = cls.get_full_name()
    if session._live_links.get(name) != token:
        session._live_links = {**session._live_links, name: token}
    if session._live_binding != binding:
        session._live_binding = binding
        session._live_user_id = principal.user_id
    await live_tabs.remember_tab(principal.user_id, session.router.session.client_token)
    return linked  # type: ignore[no-any-return]


async def current_binding(session: SessionState) -> str | None:
    """The binding of the tab's current session (from its websocket's cookie), or None."""
    sid = read_session_cookie(session.router.headers.cookie)
    if not sid:
        return None
    try:
        principal = await auth.authenticate(sid)
    except NotAuthenticated:
        return None
    return _binding(principal) if principal.has_role(_MINIMUM_ROLE) else None


async def revalidate(state: rx.State) -> bool:
    """Re-check this tab's staff links; revoke them when their login no longer holds.
    Returns True when something was revoked (the tab's state was reset)."""
    session = await state.get_state(SessionState)
    if not session._live_binding:
        return False
    if await current_binding(session) == session._live_binding:
        return False
    await session._revoke_live_links()
    return True
