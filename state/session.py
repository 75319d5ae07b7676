"""The signed-in principal for Reflex states, and the guard every event handler goes through.

The session id lives only in an HttpOnly cookie. The browser sends it with the websocket
handshake; Reflex keeps handshake headers server-side (never serialised to the client),
so `router.headers.cookie` is the trustworthy source. Every guarded handler re-reads the
session from PostgreSQL, so a logout, block or role change applies to the next event.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import reflex as rx

from backend_services.core.errors import DomainError, NotAuthenticated, WorkspaceLeft
from backend_services.core.principal import Principal
from backend_services.identity import auth, my_workspaces
from backend_services.models import Role
from state import live_tabs
from state.cookies import read_session_cookie
from state.language import LanguageState
from state.reflex_typing import event

if TYPE_CHECKING:
    from reflex_base.event import EventCallback

log = logging.getLogger(__name__)



# A full load, not a client-side route change: every page state starts again from the
# server for the workspace the session is in now.
GO_TO_DASHBOARD = "window.location.assign('/dashboard')"
# The HTTP endpoint clears the HttpOnly cookie, which the websocket cannot do; it takes a
# same-origin POST only (a GET from any link would sign people out).
LOGOUT_SCRIPT = (
    "(() => { const f = document.createElement('form'); f.method = 'post';"
    " f.action = '/api/auth/logout'; document.body.appendChild(f); f.submit(); })()")


def fail(exc: DomainError) -> Any:
    """The one place domain errors become something the user sees."""
    if isinstance(exc, WorkspaceLeft):
        return [rx.toast.error(exc.message), rx.call_script(GO_TO_DASHBOARD)]
    if isinstance(exc, NotAuthenticated):
        return [rx.toast.error(exc.message), rx.redirect("/login")]
    return rx.toast.error(exc.message)


def _substates_of(cls: type[rx.State]) -> list[type[rx.State]]:
    out: list[type[rx.State]] = []
    todo: list[type[rx.State]] = [cls]
    while todo:
        for sub in todo.pop().get_substates():
            out.append(sub)  # type: ignore[arg-type]
            todo.append(sub)  # type: ignore[arg-type]
    return out


class SessionState(rx.State):
    """Display data about the signed-in user. Nothing here is a secret."""

    user_name: rx.Field[str] = rx.field("")
    user_email: rx.Field[str] = rx.field("")
    workspace_name: rx.Field[str] = rx.field("")
    role: rx.Field[str] = rx.field("")
    is_platform_admin: rx.Field[bool] = rx.field(False)
    signed_in: rx.Field[bool] = rx.field(False)
    # The person's workspaces for the header's switcher: [id, name, role, "1" if current].
    workspace_choices: rx.Field[list[list[str]]] = rx.field(default_factory=list)
    # Live links this tab made as staff, and the login they were made under (see
    # state/live_access.py): backend-only, re-checked whenever the tab reconnects.
    _live_links: dict[str, str] = {}
    _live_binding: str = ""
    _live_user_id: int = 0

    async def _principal(self, minimum: Role | None = Role.OPERATOR) -> Principal:
        sid = read_session_cookie(self.router.headers.cookie)
        principal = await auth.authenticate(sid, ip=self.router.session.client_ip)
        if minimum is not None:
            principal.require(minimum)
        return principal

    def _show(self, p: Principal) -> None:
        self.user_name = p.name or p.email
        self.user_email = p.email
        self.workspace_name = p.workspace_name
        self.role = p.role.value
        self.is_platform_admin = p.is_platform_admin
        self.signed_in = True

    async def _guard_page(self, minimum: Role | None, platform_admin: bool = False) -> Any:
        try:
            p = await self._principal(None)
        except WorkspaceLeft as exc:
            await self._end_live_access()
            return fail(exc)
        except NotAuthenticated:
            await self._end_live_access()
            self.signed_in = False
            return rx.redirect(f"/login?next={self.router.url.path}")
        self._show(p)
        (await self.get_state(LanguageState))._use(p.language)
        self.workspace_choices = [
            [str(w.id), w.name, "blocked" if w.blocked else w.role, "1" if w.current else ""]
            for w in await my_workspaces.list_mine(p)]
        if platform_admin and not p.is_platform_admin:
            return [rx.toast.error("Only platform administrators can open that page."),
                    rx.redirect("/dashboard")]
        if minimum is not None and not p.has_role(minimum):
            return [rx.toast.error(f"That page needs the {minimum.value} role."),
                    rx.redirect("/dashboard")]
        return None

    async def _end_live_access(self) -> None:
        """The session is gone: this tab's live links go with it (state/live_access.py)."""
        session = await self.get_state(SessionState)
        if session._live_binding:
            await session._revoke_live_links()

    async def _revoke_live_links(self) -> None:
        """Unlink every staff link of this tab and reset what it showed its user."""
        root = self._get_root_state()
        links: dict[str, str] = getattr(root, "_reflex_internal_links", None) or {}
        for name, token in list(self._live_links.items()):
            if links.get(name) != token:
                continue  # already unlinked, or linked again elsewhere (the widget)
            cls = root.get_class_substate(name)
            linked: Any = await root.get_state(cls)
            await linked._unlink()
        user_id = self._live_user_id
        # Every page state of the dashboard is a SessionState below it: load them all so
        # the reset reaches each one (only loaded substates are reset), then reset the
        # subtree.
        for cls in _substates_of(SessionState):
            await self.get_state(cls)
        self.reset()  # type: ignore[no-untyped-call]
        self._live_links = {}
        self._live_binding = ""
        self._live_user_id = 0
        if user_id:
            await live_tabs.forget_tab(user_id, self.router.session.client_token)
        log.info("revoked the live links of a tab of user %s", user_id)

    @event
    async def guard_operator(self) -> Any:
        return await self._guard_page(Role.OPERATOR)

    @event
    async def guard_admin(self) -> Any:
        return await self._guard_page(Role.ADMIN)

    @event
    async def guard_owner(self) -> Any:
        return await self._guard_page(Role.OWNER)

    @event
    async def guard_platform_admin(self) -> Any:
        return await self._guard_page(None, platform_admin=True)

    @event
    async def redirect_home(self) -> Any:
        """`/`: signed-in users go to their dashboard, everyone else to sign-in."""
        try:
            await self._principal(None)
        except NotAuthenticated:
            return rx.redirect("/login")
        return rx.redirect("/dashboard")

    @event
    async def logout(self) -> Any:
        sid = read_session_cookie(self.router.headers.cookie)
        await auth.logout(sid, ip=self.router.session.client_ip)
        await self._end_live_access()
        self.signed_in = False
        return rx.call_script(LOGOUT_SCRIPT)


def guarded(minimum: Role | None = Role.OPERATOR, *, platform_admin: bool = False) -> Callable[
    [Callable[..., Any]], EventCallback[*tuple[Any, ...]]
]:
    """Make an event handler (`rx.event`) that runs only for a principal with `minimum` role.

    Any handler can be invoked by a crafted websocket message, so the check lives in the
    handler itself, not in the page's on_load. The body receives the checked principal as
    the keyword `principal`; its domain errors are shown through `fail`.
    """

    def wrap(fn: Callable[..., Any]) -> EventCallback[*tuple[Any, ...]]:
        params = list(inspect.signature(fn).parameters.values())
        public = [p for p in params if p.name != "principal"]

        @functools.wraps(fn)
        async def handler(self: SessionState, *args: Any, **kwargs: Any) -> Any:
            try:
                p = await self._principal(minimum)
                if platform_admin:
                    p.require_platform_admin()
                return await fn(self, *args, **kwargs, principal=p)
            except NotAuthenticated as exc:
                await self._end_live_access()
                return fail(exc)
            except DomainError as exc:
                return fail(exc)

        handler.__signature__ = inspect.Signature(public)  # type: ignore[attr-defined]
        del handler.__wrapped__  # type: ignore[attr-defined]
        return event(handler)

    return wrap
