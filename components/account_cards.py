"""Settings cards for one's account (sessions, address, deletion) and, for owners, the
workspace's deletion."""

from __future__ import annotations

from typing import Any

import reflex as rx

from components.forms import field, form_card
from state.account import AccountState
from state.session import SessionState

_NARROW: dict[str, Any] = {"card": {"max_width": "36rem"}, "stack": {"align": "start"}}


def _session_row(s: Any) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.text(s[1], rx.cond(s[5] == "1", rx.badge("this one", size="1", ml="2")),
                    size="2", weight="medium"),
            rx.text(s[2], " · ", s[3], " · last active ", s[4], size="1",
                    color_scheme="gray"),
            spacing="0", align="start"),
        rx.spacer(),
        rx.cond(s[5] == "1", rx.fragment(),
                rx.button("Sign out", size="1", variant="soft", color_scheme="gray",
                          type="button", on_click=AccountState.sign_out_one(s[0]))),
        width="100%", align="center", class_name="session-row")


def sessions_card() -> rx.Component:
    return form_card(
        "Where you are signed in",
        rx.foreach(AccountState.sessions, _session_row),
        rx.cond(AccountState.sessions.length() > 1,
                rx.button("Sign out everywhere else", type="button", variant="soft",
                          color_scheme="red", id="sign-out-others",
                          on_click=AccountState.sign_out_others)),
        on_submit=AccountState.sign_out_others, **_NARROW,
    )


def email_card() -> rx.Component:
    return form_card(
        "E-mail address",
        rx.text("Now: ", SessionState.user_email, size="2", color_scheme="gray"),
        rx.cond(
            AccountState.email_sent_to != "",
            rx.callout(rx.text("We sent a link to ", rx.text.strong(AccountState.email_sent_to),
                               ": the address changes when you open it."),
                       icon="mail", color_scheme="green", id="email-change-sent"),
        ),
        field("New address", "new_email", type="email", required=True, auto_complete="email"),
        field("Your password", "email_password", type="password", required=True,
              auto_complete="current-password"),
        rx.button("Change address", type="submit", id="change-email"),
        on_submit=AccountState.change_email, **_NARROW,
    )


def delete_account_card() -> rx.Component:
    return form_card(
        "Delete your account",
        rx.text("You leave every workspace and are signed out everywhere; your name and "
                "address are erased. Conversations you answered stay with their workspace.",
                size="2", color_scheme="gray"),
        field("Your password", "delete_password", type="password", required=True,
              auto_complete="current-password"),
        rx.button("Delete my account", type="submit", color_scheme="red",
                  id="delete-account"),
        on_submit=AccountState.delete_account, **_NARROW,
    )


def delete_workspace_card() -> rx.Component:
    return form_card(
        "Delete this workspace",
        rx.cond(
            AccountState.delete_after != "",
            rx.vstack(
                rx.callout(rx.text("This workspace will be deleted on ",
                                   rx.text.strong(AccountState.delete_after),
                                   " with everything in it. Until then it works as usual."),
                           icon="triangle_alert", color_scheme="red",
                           id="workspace-deletion-due"),
                rx.button("Keep the workspace", type="button", id="cancel-deletion",
                          on_click=AccountState.cancel_deletion),
                spacing="2", align="start"),
            rx.vstack(
                rx.text("Download its data first: assistants, knowledge, conversations, "
                        "contacts, payments and uploaded files.", size="2",
                        color_scheme="gray"),
                # A plain link: the browser downloads it with the session cookie.
                rx.el.a(rx.button(rx.icon("download", size=14), "Download export (.zip)",
                                  type="button", variant="soft"),
                        href="/api/workspace/export", download=True, id="workspace-export"),
                field("Type the workspace's name to confirm", "confirm_name", required=True,
                      auto_complete="off"),
                rx.button("Delete workspace", type="submit", color_scheme="red",
                          id="delete-workspace"),
                spacing="2", align="start", width="100%"),
        ),
        on_submit=AccountState.request_deletion, **_NARROW,
    )
