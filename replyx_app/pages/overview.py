"""The overview: for a new workspace, the checklist from nothing to a live assistant; for
everyone, what exists at a glance."""

from __future__ import annotations

import reflex as rx

from backend_services.onboarding.checklist import STEPS
from components.i18n import t
from replyx_app.pages.registry import Nav, dashboard_page
from state.overview import OverviewState as S
from state.session import SessionState


def _stat(label: rx.Var[str], value: rx.Var[int], icon: str) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.icon(icon, size=28, color=rx.color("accent", 10)),
            rx.vstack(rx.text(label, size="2", color_scheme="gray"),
                      rx.text(value, size="7", weight="bold"), spacing="0"),
            align="center", spacing="4",
        ),
        min_width="14rem",
    )


def _step(name: str, href: str) -> rx.Component:
    done = S.done_steps.contains(name)
    return rx.hstack(
        rx.cond(done, rx.icon("circle_check", color=rx.color("green", 10), size=22),
                rx.icon("circle", color=rx.color("gray", 8), size=22)),
        rx.vstack(
            rx.text(t(f"onboarding.{name}"), weight="medium",
                    text_decoration=rx.cond(done, "line-through", "none"),
                    color=rx.cond(done, rx.color("gray", 10), rx.color("gray", 12))),
            rx.text(t(f"onboarding.{name}.note"), size="2", color_scheme="gray"),
            spacing="0", flex="1"),
        rx.cond(~done, rx.link(rx.button(t("onboarding.open"), size="1", variant="soft"),
                               href=href, id=f"onboarding-go-{name}")),
        align="center", spacing="3", width="100%", padding_y="0.5rem",
        class_name=rx.cond(done, "onboarding-step done", "onboarding-step"),
        id=f"onboarding-{name}",
    )


def _checklist() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.heading(rx.cond(S.steps_done == S.steps_total, t("onboarding.complete"),
                                   t("onboarding.title")), size="4", as_="h2"),
                rx.spacer(),
                rx.button(t("onboarding.hide"), size="1", variant="ghost", color_scheme="gray",
                          on_click=S.hide_checklist, id="onboarding-hide"),
                width="100%", align="center"),
            rx.hstack(
                rx.progress(value=S.steps_done * 100 // S.steps_total, max=100, width="14rem"),
                rx.text(t("onboarding.progress", done=S.steps_done.to(str),
                          total=S.steps_total.to(str)), size="2", color_scheme="gray",
                        id="onboarding-progress"),
                spacing="3", align="center"),
            *[_step(name, href) for name, href in STEPS],
            spacing="2", width="100%"),
        width="100%", max_width="48rem", id="onboarding",
    )


def _top_up(text_key: str) -> rx.Component:
    return rx.text(t(text_key), " ", rx.link(t("overview.top_up"), href="/billing"), ".")


@dashboard_page(
    "/dashboard", "Overview", on_load=[S.load],
    nav=Nav("Overview", "layout_dashboard", 10),
)
def overview() -> rx.Component:
    return rx.vstack(
        rx.match(
            S.balance_banner,
            ("zero", rx.callout(_top_up("overview.balance_zero"), icon="octagon_alert",
                                color_scheme="red", id="balance-banner")),
            ("low", rx.callout(_top_up("overview.balance_low"), icon="triangle_alert",
                               color_scheme="amber", id="balance-banner")),
            rx.fragment(),
        ),
        rx.text(rx.cond(S.returning, t("overview.welcome_back", name=SessionState.user_name),
                        t("overview.welcome", name=SessionState.user_name)),
                size="4", id="overview-greeting"),
        rx.cond(S.loaded & S.show_checklist, _checklist()),
        rx.hstack(
            _stat(t("overview.assistants"), S.assistant_count, "bot"),
            _stat(t("overview.active_assistants"), S.active_count, "zap"),
            wrap="wrap", spacing="4",
        ),
        spacing="5", width="100%",
    )
