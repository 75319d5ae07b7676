"""Sign in, sign up, e-mail confirmation, password reset and invitation acceptance."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.forms import error_callout, field, success_callout
from replyx_app.pages.registry import public_page
from state.auth import (
    ConfirmState,
    EmailChangeState,
    ForgotState,
    InviteState,
    LoginState,
    ResetState,
    SignupState,
)


def _submit(text: str, **props: Any) -> rx.Component:
    return rx.button(text, type="submit", width="100%", size="3", **props)


def _form(on_submit: Any, *children: rx.Component) -> rx.Component:
    return rx.form(rx.vstack(*children, spacing="3"), on_submit=on_submit)


def _with_error(error: rx.Var[str], form: rx.Component, *more: rx.Component,
                **props: Any) -> rx.Component:
    """The form's error over the form, in a full-width column."""
    return rx.vstack(error_callout(error), form, *more, width="100%", **props)


def _done(message: str, element_id: str, href: str | rx.Var[str] = "/login") -> rx.Component:
    """What a finished step says, with the way to sign in."""
    return rx.vstack(success_callout(message, id=element_id),
                     rx.link(rx.button("Sign in", size="3"), href=href))


def _new_password(title: str, name: str, **props: Any) -> rx.Component:
    return field(title, name, type="password", auto_complete="new-password", required=True,
                 **props)


@public_page("/login", "Sign in")
def login() -> list[rx.Component]:
    return [
        error_callout(LoginState.error),
        _form(
            LoginState.submit,
            field("E-mail", "email", type="email", auto_complete="username", required=True,
                  auto_focus=True),
            field("Password", "password", type="password", auto_complete="current-password",
                  required=True),
            _submit("Sign in", loading=LoginState.busy, id="login-submit"),
        ),
        rx.hstack(rx.link("Create an account", href="/signup"), rx.spacer(),
                  rx.link("Forgot password?", href="/forgot"), width="100%"),
    ]


@public_page("/signup", "Create your workspace", on_load=[SignupState.on_load])
def signup() -> list[rx.Component]:
    sent = rx.text("We sent a confirmation link to ", rx.text.strong(SignupState.done_email),
                   ". Open it to activate your account.")
    return [
        rx.cond(
            SignupState.closed_note != "",
            rx.vstack(rx.callout(SignupState.closed_note, icon="lock", width="100%",
                                 id="signup-closed"),
                      rx.link("Sign in", href="/login")),
            rx.cond(
            SignupState.done_email != "",
            rx.vstack(success_callout(sent, id="signup-done"),
                      rx.link("Go to sign in", href="/login")),
            _with_error(
                SignupState.error,
                _form(
                    SignupState.submit,
                    field("Your name", "name", auto_complete="name", required=True,
                          auto_focus=True),
                    field("Work e-mail", "email", type="email", auto_complete="email",
                          required=True),
                    _new_password("Password (10+ characters)", "password"),
                    field("Workspace name", "workspace", placeholder="Acme Support"),
                    _submit("Create account", loading=SignupState.busy, id="signup-submit"),
                ),
                rx.text("Already have an account? ", rx.link("Sign in", href="/login"),
                        size="2"),
                spacing="3",
            ),
        ))
    ]


@public_page("/confirm-email-change", "New e-mail address",
             on_load=[EmailChangeState.on_load])
def confirm_email_change() -> list[rx.Component]:
    return [rx.match(
        EmailChangeState.status,
        ("ok", rx.vstack(success_callout(EmailChangeState.message, id="email-change-ok"),
                         rx.link(rx.button("Open ReplyX", size="3"), href="/dashboard"))),
        ("error", rx.callout(EmailChangeState.message, icon="triangle_alert",
                             color_scheme="red", id="email-change-error", width="100%")),
        rx.center(rx.spinner()),
    )]


@public_page("/confirm", "Confirm e-mail", on_load=[ConfirmState.on_load])
def confirm() -> list[rx.Component]:
    resend = rx.form(
        rx.hstack(rx.input(name="email", type="email", placeholder="you@company.com",
                           required=True),
                  rx.button("Send a new link", type="submit")),
        on_submit=ConfirmState.resend,
    )
    return [
        rx.match(
            ConfirmState.status,
            ("ok", rx.vstack(success_callout(ConfirmState.message, id="confirm-ok"),
                             rx.link(rx.button("Sign in", size="3"), href="/login"))),
            ("error", rx.vstack(
                rx.callout(ConfirmState.message, icon="triangle_alert", color_scheme="red",
                           id="confirm-error", width="100%"),
                rx.cond(ConfirmState.resend_done,
                        success_callout("If that address has an unconfirmed account, a new "
                                        "link is on its way."),
                        resend),
                width="100%",
            )),
            rx.center(rx.spinner()),
        )
    ]


@public_page("/forgot", "Reset your password")
def forgot() -> list[rx.Component]:
    return [
        rx.cond(
            ForgotState.sent,
            success_callout("If an account exists for that address, a reset link is on its "
                            "way. It works once and expires in an hour.", id="forgot-sent"),
            _with_error(ForgotState.error, _form(
                ForgotState.submit,
                field("E-mail", "email", type="email", required=True, auto_focus=True),
                _submit("Send reset link"),
            )),
        ),
        rx.link("Back to sign in", href="/login"),
    ]


@public_page("/reset", "Choose a new password")
def reset() -> list[rx.Component]:
    return [
        rx.cond(
            ResetState.done,
            _done("Your password is changed and your other sessions are signed out.",
                  "reset-done"),
            _with_error(ResetState.error, _form(
                ResetState.submit,
                _new_password("New password", "password", auto_focus=True),
                _new_password("Repeat it", "password2"),
                _submit("Set password", id="reset-submit"),
            )),
        )
    ]


@public_page("/invite", "Join a workspace", on_load=[InviteState.on_load])
def invite() -> list[rx.Component]:
    invitation = InviteState.invitation
    account = rx.cond(
        InviteState.signed_in_as_invitee,
        rx.text("You are signed in as ", invitation["email"],
                ": accepting takes you straight into the workspace.", size="2"),
        rx.cond(
            invitation["has_account"],
            rx.text("You already have an account (", invitation["email"],
                    "): accept, then sign in as usual to enter the workspace.", size="2"),
        rx.vstack(field("Your name", "name", required=True),
                  _new_password("Choose a password (10+ characters)", "password"),
                  width="100%"),
        ),
    )
    invited = rx.text("You are invited to ", rx.text.strong(invitation["workspace_name"]),
                      " as ", rx.text.strong(invitation["role"]), ".")
    accept = _form(InviteState.accept, account,
                   _submit("Accept invitation", id="invite-accept"))
    return [
        rx.cond(
            ~InviteState.loaded,
            rx.center(rx.spinner()),
            rx.cond(
                ~InviteState.valid,
                rx.callout(InviteState.message, icon="triangle_alert", color_scheme="red"),
                rx.cond(InviteState.done,
                        _done("You joined the workspace.", "invite-done",
                              href="/login?workspace=" + InviteState.joined_workspace),
                        rx.vstack(invited, error_callout(InviteState.error), accept,
                                  width="100%")),
            ),
        )
    ]
