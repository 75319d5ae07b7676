"""Platform analytics: sign-ups, active workspaces, messages, AI use by model and
provider, revenue, the busiest workspaces and those gone quiet (platform admins)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.charts import bar_chart
from components.forms import error_callout
from components.panels import data_table, hint, loading, section
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin_analytics import AdminAnalyticsState

S = AdminAnalyticsState


def _cells(*keys: str) -> Any:
    def row(r: ObjectVar[dict[str, str]]) -> rx.Component:
        return rx.table.row(*[rx.table.cell(r[k]) for k in keys])
    return row


def _body() -> rx.Component:
    return rx.vstack(
        rx.form(rx.hstack(
            rx.input(type="date", name="since", default_value=S.since, key=S.since,
                     aria_label="From", id="platform-since"),
            rx.input(type="date", name="until", default_value=S.until, key=S.until,
                     aria_label="To", id="platform-until"),
            rx.button("Show", type="submit", id="platform-apply"),
            hint("Days in UTC."), spacing="2", align="center", wrap="wrap"),
            on_submit=S.apply),
        error_callout(S.error, id="platform-error"),
        rx.flex(rx.foreach(S.totals, lambda t: rx.card(rx.vstack(
            rx.text(t[0], size="2", color_scheme="gray"),
            rx.text(t[1], size="6", weight="bold"), spacing="1"),
            min_width="11rem", flex="1", class_name="platform-total")),
            wrap="wrap", gap="3", width="100%"),
        rx.grid(
            section("Sign-ups and new workspaces per day",
                    bar_chart(S.days, "day", [("signups", "Sign-ups", "indigo"),
                                              ("workspaces", "Workspaces", "teal")])),
            section("Active workspaces",
                    bar_chart(S.days, "day", [("active", "Per day", "indigo")], height=160),
                    bar_chart(S.weeks, "week", [("active", "Per week (from Monday)", "teal")],
                              height=160)),
            section("Messages per day",
                    bar_chart(S.days, "day", [("messages", "Messages", "indigo")])),
            section("Revenue", rx.cond(
                S.revenue.length() == 0,
                rx.text("No payments in this period.", size="2", color_scheme="gray"),
                rx.vstack(
                    data_table(("Currency", "Payments", "Received, less refunds"),
                               S.revenue, _cells("currency", "payments", "amount")),
                    rx.recharts.bar_chart(
                        rx.foreach(S.currencies, lambda c: rx.recharts.bar(
                            data_key=c, name=c, fill=rx.color("green", 9),
                            is_animation_active=False)),
                        rx.recharts.x_axis(data_key="day", font_size=12),
                        rx.recharts.y_axis(font_size=12, width=48),
                        rx.recharts.graphing_tooltip(), data=S.revenue_days,
                        width="100%", height=160),
                    width="100%"))),
            columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%"),
        section("AI use by model and provider", rx.cond(
            S.models.length() == 0,
            rx.text("No AI calls in this period.", size="2", color_scheme="gray"),
            rx.box(data_table(("Model", "Provider (key)", "Calls", "Tokens in / out",
                               "Model cost"), S.models,
                              _cells("model", "provider", "calls", "tokens", "cost")),
                   overflow_x="auto", width="100%")),
            hint("The model's own cost at the prices set on Prices & balances; what "
                 "workspaces paid is in their ledgers.")),
        rx.grid(
            section("Busiest workspaces", rx.cond(
                S.top.length() == 0,
                rx.text("No messages in this period.", size="2", color_scheme="gray"),
                data_table(("Workspace", "Id", "Messages", "AI answers charged", "Charged"),
                           S.top, _cells("name", "id", "messages", "answers", "cost")))),
            section("Gone quiet for 30 days", rx.cond(
                S.quiet.length() == 0,
                rx.text("Every workspace that ever had conversations had one lately.",
                        size="2", color_scheme="gray"),
                data_table(("Workspace", "Id", "Last message"), S.quiet,
                           _cells("name", "id", "last")))),
            columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%"),
        spacing="4", width="100%",
    )


@dashboard_page("/admin/analytics", "Platform analytics", role="platform_admin",
                on_load=[AdminAnalyticsState.load],
                nav=Nav("Platform analytics", "chart_line", 147))
def admin_analytics_page() -> rx.Component:
    return rx.cond(AdminAnalyticsState.loaded, _body(), loading())
