"""Sign in, sign up, e-mail confirmation, password reset and invitation acceptance."""

from __future__ import annotations

import reflex as rx

from components.forms import error_callout, field, success_callout
from replyx_app.pages.registry import public_page
from state.auth import (
    ConfirmState,
    ForgotState,
    InviteState,
    LoginState,
    ResetState,
    SignupState,
)


@public_page("/login", "Sign in")
def login() -> list[rx.Component]:
    return [
        error_callout(LoginState.error),
        rx.form(
            rx.vstack(
                field("E-mail", "email", type="email", auto_complete="username", required=True,
                      auto_focus=True),
                field("Password", "password", type="password", auto_complete="current-password",
                      required=True),
                rx.button("Sign in", type="submit", width="100%", size="3",
                          loading=LoginState.busy, id="login-submit"),
                spacing="3",
            ),
            on_submit=LoginState.submit,
        ),
        rx.hstack(
            rx.link("Create an account", href="/signup"),
            rx.spacer(),
            rx.link("Forgot password?", href="/forgot"),
            width="100%",
        ),
    ]


@public_page("/signup", "Create your workspace")
def signup() -> list[rx.Component]:
    return [
        rx.cond(
            SignupState.done_email != "",
            rx.vstack(
                success_callout(
                    rx.text("We sent a confirmation link to ", rx.text.strong(
                        SignupState.done_email), ". Open it to activate your account."),
                    id="signup-done",
                ),
                rx.link("Go to sign in", href="/login"),
            ),
            rx.vstack(
                error_callout(SignupState.error),
                rx.form(
                    rx.vstack(
                        field("Your name", "name", auto_complete="name", required=True,
                              auto_focus=True),
                        field("Work e-mail", "email", type="email", auto_complete="email",
                              required=True),
                        field("Password (10+ characters)", "password", type="password",
                              auto_complete="new-password", required=True),
                        field("Workspace name", "workspace", placeholder="Acme Support"),
                        rx.button("Create account", type="submit", width="100%", size="3",
                                  loading=SignupState.busy, id="signup-submit"),
                        spacing="3",
                    ),
                    on_submit=SignupState.submit,
                ),
                rx.text("Already have an account? ", rx.link("Sign in", href="/login"),
                        size="2"),
                width="100%",
                spacing="3",
            ),
        )
    ]


@public_page("/confirm", "Confirm e-mail", on_load=[ConfirmState.on_load])
def confirm() -> list[rx.Component]:
    return [
        rx.match(
            ConfirmState.status,
            ("ok", rx.vstack(success_callout(ConfirmState.message, id="confirm-ok"),
                             rx.link(rx.button("Sign in", size="3"), href="/login"))),
            ("error", rx.vstack(
                rx.callout(ConfirmState.message, icon="triangle_alert", color_scheme="red",
                           id="confirm-error", width="100%"),
                rx.cond(
                    ConfirmState.resend_done,
                    success_callout("If that address has an unconfirmed account, a new link "
                                    "is on its way."),
                    rx.form(rx.hstack(rx.input(name="email", type="email",
                                               placeholder="you@company.com", required=True),
                                      rx.button("Send a new link", type="submit")),
                            on_submit=ConfirmState.resend),
                ),
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
            rx.vstack(
                error_callout(ForgotState.error),
                rx.form(
                    rx.vstack(
                        field("E-mail", "email", type="email", required=True, auto_focus=True),
                        rx.button("Send reset link", type="submit", width="100%", size="3"),
                        spacing="3",
                    ),
                    on_submit=ForgotState.submit,
                ),
                width="100%",
            ),
        ),
        rx.link("Back to sign in", href="/login"),
    ]


@public_page("/reset", "Choose a new password")
def reset() -> list[rx.Component]:
    return [
        rx.cond(
            ResetState.done,
            rx.vstack(success_callout("Your password is changed and your other sessions are "
                                      "signed out.", id="reset-done"),
                      rx.link(rx.button("Sign in", size="3"), href="/login")),
            rx.vstack(
                error_callout(ResetState.error),
                rx.form(
                    rx.vstack(
                        field("New password", "password", type="password",
                              auto_complete="new-password", required=True, auto_focus=True),
                        field("Repeat it", "password2", type="password",
                              auto_complete="new-password", required=True),
                        rx.button("Set password", type="submit", width="100%", size="3",
                                  id="reset-submit"),
                        spacing="3",
                    ),
                    on_submit=ResetState.submit,
                ),
                width="100%",
            ),
        )
    ]


@public_page("/invite", "Join a workspace", on_load=[InviteState.on_load])
def invite() -> list[rx.Component]:
    return [
        rx.cond(
            ~InviteState.loaded,
            rx.center(rx.spinner()),
            rx.cond(
                ~InviteState.valid,
                rx.callout(InviteState.message, icon="triangle_alert", color_scheme="red"),
                rx.cond(
                    InviteState.done,
                    rx.vstack(success_callout("You joined the workspace.", id="invite-done"),
                              rx.link(rx.button("Sign in", size="3"), href="/login")),
                    rx.vstack(
                        rx.text("You are invited to ", rx.text.strong(InviteState.workspace),
                                " as ", rx.text.strong(InviteState.role), "."),
                        error_callout(InviteState.error),
                        rx.form(
                            rx.vstack(
                                rx.cond(
                                    InviteState.has_account,
                                    rx.text("You already have an account (",
                                            InviteState.email, "): accept and sign in as usual.",
                                            size="2"),
                                    rx.vstack(
                                        field("Your name", "name", required=True),
                                        field("Choose a password (10+ characters)", "password",
                                              type="password", auto_complete="new-password",
                                              required=True),
                                        width="100%",
                                    ),
                                ),
                                rx.button("Accept invitation", type="submit", width="100%",
                                          size="3", id="invite-accept"),
                                spacing="3",
                            ),
                            on_submit=InviteState.accept,
                        ),
                        width="100%",
                    ),
                ),
            ),
        )
    ]
