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
from components.i18n import t
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
            t("settings.profile"),
            rx.text(t("settings.email_now", email=SessionState.user_email), size="2",
                    color_scheme="gray"),
            field(t("settings.name"), "name", default_value=SettingsState.profile_name,
                  key=SettingsState.profile_name, required=True),
            rx.button(t("settings.save_profile"), type="submit", id="save-profile"),
            on_submit=SettingsState.save_profile, **narrow,
        ),
        rx.cond(
            SessionState.role == "owner",
            form_card(
                t("settings.workspace"),
                field(t("settings.workspace_name"), "workspace_name",
                      default_value=SessionState.workspace_name,
                      key=SessionState.workspace_name, required=True, max_length=120),
                rx.button(t("settings.rename_workspace"), type="submit",
                          id="rename-workspace"),
                on_submit=WorkspacesState.rename, **narrow,
            ),
        ),
        form_card(
            t("settings.password"),
            error_callout(SettingsState.password_error),
            *[field(t(key), name, type="password", auto_complete=complete, required=True)
              for key, name, complete in (
                  ("settings.current_password", "current_password", "current-password"),
                  ("settings.new_password", "new_password", "new-password"),
                  ("settings.repeat_password", "new_password2", "new-password"))],
            rx.button(t("settings.change_password"), type="submit", id="change-password"),
            on_submit=SettingsState.change_password, **narrow,
        ),
        form_card(
            t("settings.notifications"),
            rx.foreach(SettingsState.notices, lambda n: rx.el.label(
                rx.hstack(
                    rx.checkbox(name="notify_" + n["event"].to(str),
                                default_checked=n["on"].to(bool),
                                key=n["event"].to(str) + n["on"].to(str),
                                id="notify-" + n["event"].to(str)),
                    rx.text(n["label"], size="2"), spacing="2", align="center"),
                class_name="notice-choice")),
            rx.hstack(
                rx.text(t("settings.language"), size="2", weight="medium"),
                rx.radio_group.root(
                    rx.radio_group.item("English", value="en"),
                    rx.radio_group.item("Русский", value="ru"),
                    name="mail_language", default_value=SettingsState.mail_language,
                    key=SettingsState.mail_language, direction="row", spacing="4"),
                spacing="3", align="center", wrap="wrap"),
            rx.text(t("settings.notifications_note"), size="1", color_scheme="gray"),
            rx.button(t("settings.save_notifications"), type="submit",
                      id="save-notifications"),
            on_submit=SettingsState.save_notifications, **narrow,
        ),
        form_card(
            t("settings.telegram"),
            rx.cond(
                SettingsState.telegram_bots.length() == 0,
                rx.text(t("settings.telegram_none"), size="2", color_scheme="gray"),
                rx.cond(
                    SettingsState.telegram_linked != "",
                    rx.vstack(
                        rx.text(t("settings.telegram_linked",
                                  account=SettingsState.telegram_linked), size="2",
                                id="telegram-linked"),
                        rx.text(t("settings.telegram_linked_note"), size="1",
                                color_scheme="gray"),
                        rx.button(t("settings.telegram_unlink"), type="button",
                                  color_scheme="red",
                                  variant="soft", id="telegram-unlink",
                                  on_click=SettingsState.unlink_telegram),
                        spacing="2", align="start"),
                    rx.vstack(
                        rx.cond(SettingsState.telegram_bots.length() > 1, rx.select.root(
                            rx.select.trigger(aria_label=t("settings.telegram_bot")),
                            rx.select.content(rx.foreach(
                                SettingsState.telegram_bots,
                                lambda b: rx.select.item(b[1], value=b[0]))),
                            name="bot")),
                        rx.button(t("settings.telegram_make_link"), type="submit",
                                  id="telegram-link-make"),
                        rx.cond(SettingsState.telegram_link != "", rx.vstack(
                            rx.link(t("settings.telegram_open"),
                                    href=SettingsState.telegram_link, is_external=True,
                                    id="telegram-link"),
                            rx.text(t("settings.telegram_link_note"), size="1",
                                    color_scheme="gray"),
                            rx.button(t("settings.telegram_opened"), type="button",
                                      variant="soft",
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
