"""Platform admin: settings that apply across the platform, stored in the database."""

from __future__ import annotations

import reflex as rx

from backend_services.identity.platform_settings import SIGNUP_MODES
from components.forms import labelled
from components.panels import hint, loading, section
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin_settings import AdminSettingsState as S


def _form() -> rx.Component:
    return rx.form(
        rx.vstack(
            section(
                "Who can get an account",
                rx.radio_group.root(
                    rx.vstack(*[rx.radio_group.item(text, value=value, id=f"signup-{value}")
                                for value, text in SIGNUP_MODES.items()], spacing="2"),
                    name="signup_mode", default_value=S.signup_mode, key=S.signup_mode,
                ),
                hint("Applies at once on every host: the sign-up page and invitations read "
                     "it when used."),
            ),
            section(
                "Limits",
                rx.flex(
                    labelled("Knowledge storage of a new workspace, MB", "new-storage",
                             rx.input(name="new_workspace_storage_mb", id="new-storage",
                                      type="number", min=1, default_value=S.storage_mb,
                                      key=S.storage_mb),
                             note="A workspace's own quota is changed on its page.",
                             width="20rem"),
                    labelled("Workspaces one person may own", "ws-per-person",
                             rx.input(name="workspaces_per_person", id="ws-per-person",
                                      type="number", min=1,
                                      default_value=S.workspaces_per_person,
                                      key=S.workspaces_per_person),
                             width="20rem"),
                    spacing="4", wrap="wrap",
                ),
            ),
            rx.button("Save", type="submit", id="platform-settings-save"),
            spacing="4", width="100%", max_width="48rem",
        ),
        on_submit=S.save,
    )


@dashboard_page(
    "/admin/settings", "Platform settings", role="platform_admin", on_load=[S.load],
    nav=Nav("Platform settings", "sliders_horizontal", 159),
)
def admin_settings_page() -> rx.Component:
    return rx.cond(S.loaded, _form(), loading())
