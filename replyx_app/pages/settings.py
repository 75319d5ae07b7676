"""Personal settings: name, password."""

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
        spacing="4",
    )
