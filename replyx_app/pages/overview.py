"""The overview: what happens in the workspace at a glance."""

from __future__ import annotations

import reflex as rx

from replyx_app.pages.registry import Nav, dashboard_page
from state.overview import OverviewState
from state.session import SessionState


def _stat(label: str, value: rx.Var[int], icon: str) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon(icon, size=28, color=rx.color("accent", 10)),
            rx.vstack(rx.text(label, size="2", color_scheme="gray"),
                      rx.text(value, size="7", weight="bold"), spacing="0"),
            align="center", spacing="4",
        ),
        min_width="14rem",
    )


@dashboard_page(
    "/dashboard", "Overview", on_load=[OverviewState.load],
    nav=Nav("Overview", "layout_dashboard", 10),
)
def overview() -> rx.Component:
    return rx.vstack(
        rx.match(
            OverviewState.balance_banner,
            ("zero", rx.callout(rx.text(
                "The balance is spent: the AI has stopped answering and conversations go "
                "to your operators. ", rx.link("Top up on the Billing page", href="/billing"),
                "."), icon="octagon_alert", color_scheme="red", id="balance-banner")),
            ("low", rx.callout(rx.text("The balance is running low. ", rx.link(
                "Top up on the Billing page", href="/billing"), "."),
                icon="triangle_alert", color_scheme="amber", id="balance-banner")),
            rx.fragment(),
        ),
        rx.text("Welcome back, ", SessionState.user_name, ".", size="4"),
        rx.hstack(
            _stat("Assistants", OverviewState.assistant_count, "bot"),
            _stat("Active assistants", OverviewState.active_count, "zap"),
            wrap="wrap", spacing="4",
        ),
        rx.cond(
            OverviewState.loaded & (OverviewState.assistant_count == 0),
            rx.callout("No assistants yet. Create one on the Assistants page to start.",
                       icon="info"),
        ),
        spacing="5",
    )
