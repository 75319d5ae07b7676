"""Sign in, sign up, e-mail confirmation, password reset and invitation acceptance."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.forms import error_callout, field, success_callout
from components.i18n import t, t_choice
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


def _submit(text: str | rx.Var[str], **props: Any) -> rx.Component:
    return rx.button(text, type="submit", width="100%", size="3", **props)


def _form(on_submit: Any, *children: rx.Component) -> rx.Component:
    return rx.form(rx.vstack(*children, spacing="3"), on_submit=on_submit)


def _with_error(error: rx.Var[str], form: rx.Component, *more: rx.Component,
                **props: Any) -> rx.Component:
    """The form's error over the form, in a full-width column."""
    return rx.vstack(error_callout(error), form, *more, width="100%", **props)


def _done(message: str | rx.Var[str], element_id: str,
          href: str | rx.Var[str] = "/login") -> rx.Component:
    """What a finished step says, with the way to sign in."""
    return rx.vstack(success_callout(message, id=element_id),
                     rx.link(rx.button(t("auth.sign_in"), size="3"), href=href))


def _new_password(title: str | rx.Var[str], name: str, **props: Any) -> rx.Component:
    return field(title, name, type="password", auto_complete="new-password", required=True,
                 **props)


@public_page("/login", "Sign in")
def login() -> list[rx.Component]:
    return [
        error_callout(LoginState.error),
        _form(
            LoginState.submit,
            field(t("auth.email"), "email", type="email", auto_complete="username",
                  required=True, auto_focus=True),
            field(t("auth.password"), "password", type="password",
                  auto_complete="current-password", required=True),
            _submit(t("auth.sign_in"), loading=LoginState.busy, id="login-submit"),
        ),
        rx.hstack(rx.link(t("auth.create_account_link"), href="/signup"), rx.spacer(),
                  rx.link(t("auth.forgot_link"), href="/forgot"), width="100%"),
    ]


@public_page("/signup", "Create your workspace", on_load=[SignupState.on_load])
def signup() -> list[rx.Component]:
    sent = rx.text(t("auth.confirmation_sent", email=SignupState.done_email))
    return [
        rx.cond(
            SignupState.closed_note != "",
            rx.vstack(rx.callout(SignupState.closed_note, icon="lock", width="100%",
                                 id="signup-closed"),
                      rx.link(t("auth.sign_in"), href="/login")),
            rx.cond(
            SignupState.done_email != "",
            rx.vstack(success_callout(sent, id="signup-done"),
                      rx.link(t("auth.go_to_sign_in"), href="/login")),
            _with_error(
                SignupState.error,
                _form(
                    SignupState.submit,
                    field(t("auth.your_name"), "name", auto_complete="name", required=True,
                          auto_focus=True),
                    field(t("auth.work_email"), "email", type="email", auto_complete="email",
                          required=True),
                    _new_password(t("auth.password_hint"), "password"),
                    field(t("auth.workspace_name"), "workspace",
                          placeholder=t("auth.workspace_example")),
                    _submit(t("auth.create_account"), loading=SignupState.busy,
                            id="signup-submit"),
                ),
                rx.text(t("auth.have_account"), " ",
                        rx.link(t("auth.sign_in"), href="/login"), size="2"),
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
                         rx.link(rx.button(t("auth.open_replyx"), size="3"),
                                 href="/dashboard"))),
        ("error", rx.callout(EmailChangeState.message, icon="triangle_alert",
                             color_scheme="red", id="email-change-error", width="100%")),
        rx.center(rx.spinner()),
    )]


@public_page("/confirm", "Confirm e-mail", on_load=[ConfirmState.on_load])
def confirm() -> list[rx.Component]:
    resend = rx.form(
        rx.hstack(rx.input(name="email", type="email", placeholder="you@company.com",
                           required=True),
                  rx.button(t("auth.send_new_link"), type="submit")),
        on_submit=ConfirmState.resend,
    )
    return [
        rx.match(
            ConfirmState.status,
            ("ok", rx.vstack(success_callout(ConfirmState.message, id="confirm-ok"),
                             rx.link(rx.button(t("auth.sign_in"), size="3"), href="/login"))),
            ("error", rx.vstack(
                rx.callout(ConfirmState.message, icon="triangle_alert", color_scheme="red",
                           id="confirm-error", width="100%"),
                rx.cond(ConfirmState.resend_done,
                        success_callout(t("auth.new_link_sent")),
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
            success_callout(t("auth.reset_sent"), id="forgot-sent"),
            _with_error(ForgotState.error, _form(
                ForgotState.submit,
                field(t("auth.email"), "email", type="email", required=True, auto_focus=True),
                _submit(t("auth.send_reset_link")),
            )),
        ),
        rx.link(t("auth.back_to_sign_in"), href="/login"),
    ]


@public_page("/reset", "Choose a new password", on_load=[ResetState.on_load])
def reset() -> list[rx.Component]:
    return [
        rx.cond(
            ResetState.dead_link != "",
            rx.vstack(rx.callout(ResetState.dead_link, icon="triangle_alert",
                                 color_scheme="red", width="100%", id="reset-dead"),
                      rx.link(t("auth.ask_new_reset"), href="/forgot")),
            rx.cond(
            ResetState.done,
            _done(t("auth.reset_done"), "reset-done"),
            _with_error(ResetState.error, _form(
                ResetState.submit,
                _new_password(t("auth.new_password"), "password", auto_focus=True),
                _new_password(t("auth.repeat_password"), "password2"),
                _submit(t("auth.set_password"), id="reset-submit"),
            )),
        ))
    ]


@public_page("/invite", "Join a workspace", on_load=[InviteState.on_load])
def invite() -> list[rx.Component]:
    invitation = InviteState.invitation
    account = rx.cond(
        InviteState.signed_in_as_invitee,
        rx.text(t("auth.invite_signed_in", email=invitation["email"].to(str)), size="2"),
        rx.cond(
            invitation["has_account"],
            rx.text(t("auth.invite_has_account", email=invitation["email"].to(str)), size="2"),
        rx.vstack(field(t("auth.your_name"), "name", required=True),
                  _new_password(t("auth.choose_password"), "password"),
                  width="100%"),
        ),
    )
    invited = rx.text(t("auth.invited", workspace=invitation["workspace_name"].to(str),
                        role=t_choice("role", invitation["role"].to(str))))
    accept = _form(InviteState.accept, account,
                   _submit(t("auth.accept_invitation"), id="invite-accept"))
    return [
        rx.cond(
            ~InviteState.loaded,
            rx.center(rx.spinner()),
            rx.cond(
                ~InviteState.valid,
                rx.callout(InviteState.message, icon="triangle_alert", color_scheme="red"),
                rx.cond(InviteState.done,
                        _done(t("auth.joined"), "invite-done",
                              href="/login?workspace=" + InviteState.joined_workspace),
                        rx.vstack(invited, error_callout(InviteState.error), accept,
                                  width="100%")),
            ),
        )
    ]
