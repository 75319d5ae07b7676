"""Personal settings: name, password."""

from __future__ import annotations

import reflex as rx

from components.forms import error_callout, field
from replyx_app.pages.registry import Nav, dashboard_page
from state.session import SessionState
from state.settings import SettingsState


@dashboard_page(
    "/settings", "Settings", on_load=[SettingsState.load],
    nav=Nav("Settings", "settings", 130),
)
def settings_page() -> rx.Component:
    return rx.vstack(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Profile", size="3"),
                    rx.text("E-mail: ", SessionState.user_email, size="2", color_scheme="gray"),
                    field("Name", "name", default_value=SettingsState.profile_name,
                          key=SettingsState.profile_name, required=True),
                    rx.button("Save profile", type="submit", id="save-profile"),
                    spacing="3", align="start",
                ),
                on_submit=SettingsState.save_profile,
            ),
            width="100%", max_width="36rem",
        ),
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Password", size="3"),
                    error_callout(SettingsState.password_error),
                    field("Current password", "current_password", type="password",
                          auto_complete="current-password", required=True),
                    field("New password (10+ characters)", "new_password", type="password",
                          auto_complete="new-password", required=True),
                    field("Repeat the new password", "new_password2", type="password",
                          auto_complete="new-password", required=True),
                    rx.button("Change password", type="submit", id="change-password"),
                    spacing="3", align="start",
                ),
                on_submit=SettingsState.change_password,
            ),
            width="100%", max_width="36rem",
        ),
        spacing="4",
    )
