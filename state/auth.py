"""Pages anyone can open: sign in, sign up, confirm e-mail, forgot / reset password, invite."""

from __future__ import annotations

from typing import Any

import reflex as rx

from backend_services.core.errors import DomainError
from backend_services.core.mailer import MailError
from backend_services.identity import auth, team
from state.session import BROWSER_COOKIE, read_cookie


class LoginState(rx.State):
    error: str = ""
    busy: bool = False

    @rx.event
    async def submit(self, form: dict[str, Any]) -> Any:
        self.error = ""
        self.busy = True
        yield
        try:
            result = await auth.login(
                email=str(form.get("email", "")),
                password=str(form.get("password", "")),
                ip=self.router.session.client_ip,
                user_agent=self.router.headers.user_agent,
            )
            ticket = await auth.issue_login_ticket(
                result.session_id,
                read_cookie(self.router.headers.cookie, BROWSER_COOKIE) or "")
        except DomainError as exc:
            self.error = exc.message
            self.busy = False
            return
        self.busy = False
        target = auth.safe_next(self.router.url.query_parameters.get("next", "/dashboard"))
        url = f"/api/auth/session?ticket={ticket}&next={target}"
        yield rx.call_script(f"window.location.assign({url!r})")


class SignupState(rx.State):
    error: str = ""
    done_email: str = ""
    busy: bool = False

    @rx.event
    async def submit(self, form: dict[str, Any]) -> Any:
        self.error = ""
        self.busy = True
        yield
        try:
            await auth.signup(
                email=str(form.get("email", "")),
                password=str(form.get("password", "")),
                name=str(form.get("name", "")),
                workspace_name=str(form.get("workspace", "")),
                ip=self.router.session.client_ip,
            )
            self.done_email = str(form.get("email", "")).strip().lower()
        except (DomainError, MailError) as exc:
            self.error = getattr(exc, "message", str(exc))
        self.busy = False


class ConfirmState(rx.State):
    status: str = "working"
    message: str = ""
    resend_done: bool = False

    @rx.event
    async def on_load(self) -> None:
        token = self.router.url.query_parameters.get("token", "")
        try:
            email = await auth.confirm_email(token)
            self.status = "ok"
            self.message = f"{email} is confirmed. You can sign in now."
        except DomainError as exc:
            self.status = "error"
            self.message = exc.message

    @rx.event
    async def resend(self, form: dict[str, Any]) -> Any:
        try:
            await auth.resend_confirmation(
                str(form.get("email", "")), ip=self.router.session.client_ip
            )
            self.resend_done = True
        except (DomainError, MailError) as exc:
            return rx.toast.error(getattr(exc, "message", str(exc)))
        return None


class ForgotState(rx.State):
    sent: bool = False
    error: str = ""

    @rx.event
    async def submit(self, form: dict[str, Any]) -> None:
        self.error = ""
        try:
            await auth.request_password_reset(
                str(form.get("email", "")), ip=self.router.session.client_ip
            )
            self.sent = True
        except (DomainError, MailError) as exc:
            self.error = getattr(exc, "message", str(exc))


class ResetState(rx.State):
    error: str = ""
    done: bool = False

    @rx.event
    async def submit(self, form: dict[str, Any]) -> None:
        self.error = ""
        password = str(form.get("password", ""))
        if password != str(form.get("password2", "")):
            self.error = "The two passwords differ."
            return
        try:
            await auth.reset_password(
                self.router.url.query_parameters.get("token", ""),
                password,
                ip=self.router.session.client_ip,
            )
            self.done = True
        except DomainError as exc:
            self.error = exc.message


class InviteState(rx.State):
    loaded: bool = False
    valid: bool = False
    message: str = ""
    email: str = ""
    workspace: str = ""
    role: str = ""
    has_account: bool = False
    done: bool = False
    error: str = ""

    @rx.event
    async def on_load(self) -> None:
        self.done = False
        try:
            info = await team.describe_invitation(
                self.router.url.query_parameters.get("token", "")
            )
            self.valid = True
            self.email, self.workspace = info.email, info.workspace_name
            self.role, self.has_account = info.role, info.has_account
        except DomainError as exc:
            self.valid = False
            self.message = exc.message
        self.loaded = True

    @rx.event
    async def accept(self, form: dict[str, Any]) -> None:
        self.error = ""
        try:
            await team.accept_invitation(
                self.router.url.query_parameters.get("token", ""),
                name=str(form.get("name", "")),
                password=str(form.get("password", "")),
            )
            self.done = True
        except DomainError as exc:
            self.error = exc.message
