"""Pages anyone can open: sign in, sign up, confirm e-mail, forgot / reset password, invite."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import reflex as rx

from backend_services.core.errors import DomainError, NotAuthenticated
from backend_services.core.mailer import MailError
from backend_services.core.principal import Principal
from backend_services.identity import account, auth, my_workspaces, platform_settings, team
from state.cookies import BROWSER_COOKIE, read_cookie, read_session_cookie
from state.language import LanguageState
from state.reflex_typing import ObjectField, event, object_field
from state.session import GO_TO_DASHBOARD

if TYPE_CHECKING:
    from reflex_base.event import EventCallback


class FormState(rx.State, mixin=True):
    """A page with one form: what went wrong, and whether it is being sent."""

    error: rx.Field[str] = rx.field("")
    busy: rx.Field[bool] = rx.field(False)


def submits(
    fn: Callable[[Any, dict[str, Any]], Awaitable[Any]],
) -> EventCallback[dict[str, Any]]:
    """The form's submit handler: the button shows it is busy while `fn` runs, and a domain
    or mail error is shown as the form's `error`. What `fn` returns (a redirect…) is sent."""

    @functools.wraps(fn)
    async def handler(self: Any, form: dict[str, Any]) -> AsyncIterator[Any]:
        self.error, self.busy = "", True
        yield
        try:
            result = await fn(self, form)
        except (DomainError, MailError) as exc:
            self.error, result = getattr(exc, "message", str(exc)), None
        self.busy = False
        if result is not None:
            yield result

    return event(handler)


class LoginState(FormState, rx.State):
    @submits
    async def submit(self, form: dict[str, Any]) -> Any:
        result = await auth.login(
            email=str(form.get("email", "")),
            password=str(form.get("password", "")),
            ip=self.router.session.client_ip,
            user_agent=self.router.headers.user_agent,
        )
        ticket = await auth.issue_login_ticket(
            result.session_id, read_cookie(self.router.headers.cookie, BROWSER_COOKIE) or "")
        wanted = self.router.url.query_parameters.get("workspace", "")
        if wanted.isdigit():  # signing in to enter a workspace just joined
            with contextlib.suppress(DomainError):
                await my_workspaces.switch(result.principal, int(wanted))
        target = auth.safe_next(self.router.url.query_parameters.get("next", "/dashboard"))
        url = f"/api/auth/session?ticket={ticket}&next={target}"
        return rx.call_script(f"window.location.assign({url!r})")


class SignupState(FormState, rx.State):
    done_email: rx.Field[str] = rx.field("")
    # Why the form is not offered ("" while sign-up is open): the platform's setting.
    closed_note: rx.Field[str] = rx.field("")

    @event
    async def on_load(self) -> None:
        try:
            platform_settings.refuse_signup(await platform_settings.current())
            self.closed_note = ""
        except DomainError as exc:
            self.closed_note = exc.message

    @submits
    async def submit(self, form: dict[str, Any]) -> None:
        await auth.signup(
            email=str(form.get("email", "")),
            password=str(form.get("password", "")),
            name=str(form.get("name", "")),
            workspace_name=str(form.get("workspace", "")),
            ip=self.router.session.client_ip,
            language=(await self.get_state(LanguageState)).lang,
        )
        self.done_email = str(form.get("email", "")).strip().lower()


class EmailChangeState(rx.State):
    status: rx.Field[str] = rx.field("working")
    message: rx.Field[str] = rx.field("")

    @event
    async def on_load(self) -> None:
        try:
            email = await account.confirm_email_change(
                self.router.url.query_parameters.get("token", ""))
            self.status, self.message = "ok", f"Your address is now {email}."
        except DomainError as exc:
            self.status, self.message = "error", exc.message


class ConfirmState(rx.State):
    status: rx.Field[str] = rx.field("working")
    message: rx.Field[str] = rx.field("")
    resend_done: rx.Field[bool] = rx.field(False)

    @event
    async def on_load(self) -> None:
        token = self.router.url.query_parameters.get("token", "")
        try:
            email = await auth.confirm_email(token)
            self.status = "ok"
            self.message = f"{email} is confirmed. You can sign in now."
        except DomainError as exc:
            self.status = "error"
            self.message = exc.message

    @event
    async def resend(self, form: dict[str, Any]) -> Any:
        try:
            await auth.resend_confirmation(
                str(form.get("email", "")), ip=self.router.session.client_ip
            )
            self.resend_done = True
        except (DomainError, MailError) as exc:
            return rx.toast.error(getattr(exc, "message", str(exc)))
        return None


class ForgotState(FormState, rx.State):
    sent: rx.Field[bool] = rx.field(False)

    @submits
    async def submit(self, form: dict[str, Any]) -> None:
        await auth.request_password_reset(str(form.get("email", "")),
                                          ip=self.router.session.client_ip)
        self.sent = True


class ResetState(FormState, rx.State):
    done: rx.Field[bool] = rx.field(False)
    dead_link: rx.Field[str] = rx.field("")  # why the link cannot work, before any typing

    @event
    async def on_load(self) -> None:
        try:
            await auth.check_reset_link(self.router.url.query_parameters.get("token", ""))
            self.dead_link = ""
        except DomainError as exc:
            self.dead_link = exc.message

    @submits
    async def submit(self, form: dict[str, Any]) -> None:
        password = str(form.get("password", ""))
        if password != str(form.get("password2", "")):
            self.error = "The two passwords differ."
            return
        await auth.reset_password(self.router.url.query_parameters.get("token", ""), password,
                                  ip=self.router.session.client_ip)
        self.done = True


class InviteState(FormState, rx.State):
    loaded: rx.Field[bool] = rx.field(False)
    valid: rx.Field[bool] = rx.field(False)
    message: rx.Field[str] = rx.field("")
    # what the invitation is for: {"email", "workspace_name", "role", "has_account"}
    invitation: ObjectField[dict[str, Any]] = object_field(dict)
    done: rx.Field[bool] = rx.field(False)
    signed_in_as_invitee: rx.Field[bool] = rx.field(False)
    joined_workspace: rx.Field[str] = rx.field("")  # where to sign in to afterwards

    @event
    async def on_load(self) -> None:
        self.done = False
        try:
            info = await team.describe_invitation(
                self.router.url.query_parameters.get("token", "")
            )
            self.valid = True
            self.invitation = dataclasses.asdict(info)
            me = await self._signed_in()
            self.signed_in_as_invitee = me is not None and me.email == info.email
        except DomainError as exc:
            self.valid = False
            self.message = exc.message
        self.loaded = True

    async def _signed_in(self) -> Principal | None:
        try:
            return await auth.authenticate(read_session_cookie(self.router.headers.cookie))
        except NotAuthenticated:
            return None

    @submits
    async def accept(self, form: dict[str, Any]) -> Any:
        accepted = await team.accept_invitation(
            self.router.url.query_parameters.get("token", ""),
            name=str(form.get("name", "")),
            password=str(form.get("password", "")),
        )
        me = await self._signed_in()
        if me is not None and me.email == accepted.email:
            # Signed in as the invitee: straight into the workspace they just joined.
            await my_workspaces.switch(me, accepted.workspace_id)
            return rx.call_script(GO_TO_DASHBOARD)
        self.joined_workspace = str(accepted.workspace_id)
        self.done = True
        return None
