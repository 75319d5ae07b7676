"""Personal settings: name, password, what reaches one by e-mail and in which language."""

from __future__ import annotations

import reflex as rx

from components.forms import error_callout, field, form_card
from replyx_app.pages.registry import Nav, dashboard_page
from state.session import SessionState
from state.settings import SettingsState


@dashboard_page(
    "/settings", "Settings", on_load=[SettingsState.load],
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
        spacing="4",
    )
