"""Settings cards for one's account (sessions, address, deletion) and, for owners, the
workspace's deletion."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.forms import field, form_card
from components.i18n import t
from state.account import AccountState
from state.session import SessionState

_NARROW: dict[str, Any] = {"card": {"max_width": "36rem"}, "stack": {"align": "start"}}


def _session_row(s: Any) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(s[1], rx.cond(s[5] == "1", rx.badge(t("settings.this_session"), size="1",
                                                        ml="2")),
                    size="2", weight="medium"),
            rx.text(s[2], " · ", s[3], " · ", t("settings.last_active", when=s[4].to(str)),
                    size="1", color_scheme="gray"),
            spacing="0", align="start"),
        rx.spacer(),
        rx.cond(s[5] == "1", rx.fragment(),
                rx.button(t("settings.sign_out"), size="1", variant="soft",
                          color_scheme="gray",
                          type="button", on_click=AccountState.sign_out_one(s[0]))),
        width="100%", align="center", class_name="session-row")


def sessions_card() -> rx.Component:
    return form_card(
        t("settings.sessions"),
        rx.foreach(AccountState.sessions, _session_row),
        rx.cond(AccountState.sessions.length() > 1,
                rx.button(t("settings.sign_out_others"), type="button", variant="soft",
                          color_scheme="red", id="sign-out-others",
                          on_click=AccountState.sign_out_others)),
        on_submit=AccountState.sign_out_others, **_NARROW,
    )


def email_card() -> rx.Component:
    return form_card(
        t("settings.address"),
        rx.text(t("settings.address_now", email=SessionState.user_email), size="2",
                color_scheme="gray"),
        rx.cond(
            AccountState.email_sent_to != "",
            rx.callout(rx.text(t("settings.address_sent", email=AccountState.email_sent_to)),
                       icon="mail", color_scheme="green", id="email-change-sent"),
        ),
        field(t("settings.new_address"), "new_email", type="email", required=True,
              auto_complete="email"),
        field(t("settings.your_password"), "email_password", type="password", required=True,
              auto_complete="current-password"),
        rx.button(t("settings.change_address"), type="submit", id="change-email"),
        on_submit=AccountState.change_email, **_NARROW,
    )


def delete_account_card() -> rx.Component:
    return form_card(
        t("settings.delete_account"),
        rx.text(t("settings.delete_account_note"), size="2", color_scheme="gray"),
        field(t("settings.your_password"), "delete_password", type="password", required=True,
              auto_complete="current-password"),
        rx.button(t("settings.delete_account_button"), type="submit", color_scheme="red",
                  id="delete-account"),
        on_submit=AccountState.delete_account, **_NARROW,
    )


def delete_workspace_card() -> rx.Component:
    return form_card(
        t("settings.delete_workspace"),
        rx.cond(
            AccountState.delete_after != "",
            rx.vstack(
                rx.callout(rx.text(t("settings.deletion_due", date=AccountState.delete_after)),
                           icon="triangle_alert", color_scheme="red",
                           id="workspace-deletion-due"),
                rx.button(t("settings.keep_workspace"), type="button", id="cancel-deletion",
                          on_click=AccountState.cancel_deletion),
                spacing="2", align="start"),
            rx.vstack(
                rx.text(t("settings.export_first"), size="2", color_scheme="gray"),
                # A plain link: the browser downloads it with the session cookie.
                rx.el.a(rx.button(rx.icon("download", size=14), t("settings.download_export"),
                                  type="button", variant="soft"),
                        href="/api/workspace/export", download=True, id="workspace-export"),
                field(t("settings.type_name"), "confirm_name", required=True,
                      auto_complete="off"),
                rx.button(t("settings.delete_workspace_button"), type="submit",
                          color_scheme="red",
                          id="delete-workspace"),
                spacing="2", align="start", width="100%"),
        ),
        on_submit=AccountState.request_deletion, **_NARROW,
    )
