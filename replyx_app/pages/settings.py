"""Personal settings: name, password, what reaches one by e-mail and in which language."""

from __future__ import annotations

import reflex as rx

from components.account_cards import (
    delete_account_card,
    delete_workspace_card,
    email_card,
    sessions_card,
)
from components.forms import error_callout, field, form_card
from replyx_app.pages.registry import Nav, dashboard_page
from state.account import AccountState
from state.session import SessionState
from state.settings import SettingsState
from state.workspaces import WorkspacesState


@dashboard_page(
    "/settings", "Settings", on_load=[SettingsState.load, AccountState.load],
    nav=Nav("Settings", "settings", 130),
)
def settings_page() -> rx.Component:
    narrow = {"card": {"max_width": "36rem"}, "stack": {"align": "start"}}
    return rx.vstack(
        form_card(
            "Profile",
            rx.text("E-mail: ", SessionState.user_email, size="2", color_scheme="gray"),
            field("Name", "name", default_value=SettingsState.profile_name,
                  key=SettingsState.profile_name, required=True),
            rx.button("Save profile", type="submit", id="save-profile"),
            on_submit=SettingsState.save_profile, **narrow,
        ),
        rx.cond(
            SessionState.role == "owner",
            form_card(
                "Workspace",
                field("Workspace name", "workspace_name",
                      default_value=SessionState.workspace_name,
                      key=SessionState.workspace_name, required=True, max_length=120),
                rx.button("Rename workspace", type="submit", id="rename-workspace"),
                on_submit=WorkspacesState.rename, **narrow,
            ),
        ),
        form_card(
            "Password",
            error_callout(SettingsState.password_error),
            *[field(text, name, type="password", auto_complete=complete, required=True)
              for text, name, complete in (
                  ("Current password", "current_password", "current-password"),
                  ("New password (10+ characters)", "new_password", "new-password"),
                  ("Repeat the new password", "new_password2", "new-password"))],
            rx.button("Change password", type="submit", id="change-password"),
            on_submit=SettingsState.change_password, **narrow,
        ),
        form_card(
            "Notifications by e-mail",
            rx.foreach(SettingsState.notices, lambda n: rx.el.label(
                rx.hstack(
                    rx.checkbox(name="notify_" + n["event"].to(str),
                                default_checked=n["on"].to(bool),
                                key=n["event"].to(str) + n["on"].to(str),
                                id="notify-" + n["event"].to(str)),
                    rx.text(n["label"], size="2"), spacing="2", align="center"),
                class_name="notice-choice")),
            rx.hstack(
                rx.text("Language of the e-mails", size="2", weight="medium"),
                rx.radio_group.root(
                    rx.radio_group.item("English", value="en"),
                    rx.radio_group.item("Русский", value="ru"),
                    name="mail_language", default_value=SettingsState.mail_language,
                    key=SettingsState.mail_language, direction="row", spacing="4"),
                spacing="3", align="center", wrap="wrap"),
            rx.text("Waiting visitors and left contacts are e-mailed only while no operator "
                    "is online; several waiting visitors within ten minutes come as one "
                    "e-mail.", size="1", color_scheme="gray"),
            rx.button("Save notifications", type="submit", id="save-notifications"),
            on_submit=SettingsState.save_notifications, **narrow,
        ),
        form_card(
            "Telegram",
            rx.cond(
                SettingsState.telegram_bots.length() == 0,
                rx.text("Your workspace has no Telegram bot yet: once one is connected "
                        "(Channels), you can take and answer conversations from Telegram.",
                        size="2", color_scheme="gray"),
                rx.cond(
                    SettingsState.telegram_linked != "",
                    rx.vstack(
                        rx.text("Linked: ", SettingsState.telegram_linked, size="2",
                                id="telegram-linked"),
                        rx.text("Alerts of waiting visitors come there with a button to "
                                "take the conversation; what you write there answers it.",
                                size="1", color_scheme="gray"),
                        rx.button("Unlink Telegram", type="button", color_scheme="red",
                                  variant="soft", id="telegram-unlink",
                                  on_click=SettingsState.unlink_telegram),
                        spacing="2", align="start"),
                    rx.vstack(
                        rx.cond(SettingsState.telegram_bots.length() > 1, rx.select.root(
                            rx.select.trigger(aria_label="Bot"),
                            rx.select.content(rx.foreach(
                                SettingsState.telegram_bots,
                                lambda b: rx.select.item(b[1], value=b[0]))),
                            name="bot")),
                        rx.button("Make a link", type="submit", id="telegram-link-make"),
                        rx.cond(SettingsState.telegram_link != "", rx.vstack(
                            rx.link("Open Telegram to link your account",
                                    href=SettingsState.telegram_link, is_external=True,
                                    id="telegram-link"),
                            rx.text("The link works once, for 15 minutes.", size="1",
                                    color_scheme="gray"),
                            rx.button("I have opened it", type="button", variant="soft",
                                      size="1", on_click=SettingsState.check_telegram),
                            spacing="1", align="start")),
                        spacing="2", align="start"),
                )),
            on_submit=SettingsState.link_telegram, **narrow,
        ),
        email_card(),
        sessions_card(),
        rx.cond(SessionState.role == "owner", delete_workspace_card()),
        delete_account_card(),
        spacing="4",
    )
