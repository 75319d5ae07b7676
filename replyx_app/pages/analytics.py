"""Analytics: how the assistants and the team did over a period, against the period before
— conversations, handling, response times, ratings, busy hours, questions, AI cost."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.charts import bar_chart
from components.forms import error_callout
from components.panels import data_table, empty_state, hint, loading
from replyx_app.pages.registry import Nav, dashboard_page
from state.analytics import CHANNEL_LABELS, PRESETS, AnalyticsState

TREND_COLOURS = (("good", "green"), ("bad", "red"))


def _csv(table: str) -> rx.Component:
    return rx.button(rx.icon("download", size=14), "CSV", variant="ghost", size="1",
                     type="button", on_click=AnalyticsState.export(table),
                     id=f"csv-{table}", aria_label=f"Download the {table} table as CSV")


def _section(title: str, table: str | None, *children: rx.Component,
             **props: Any) -> rx.Component:
    heading = rx.hstack(rx.heading(title, size="3", as_="h2"), rx.spacer(),
                        *([_csv(table)] if table else []), width="100%", align="center")
    return rx.card(rx.vstack(heading, *children, spacing="3", width="100%"),
                   width="100%", **props)


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            # Uncontrolled fields keyed by the shown value: a preset redraws them.
            rx.input(type="date", name="since", default_value=AnalyticsState.since,
                     key=AnalyticsState.since, aria_label="From", id="analytics-since"),
            rx.input(type="date", name="until", default_value=AnalyticsState.until,
                     key=AnalyticsState.until, aria_label="To", id="analytics-until"),
            rx.select.root(
                rx.select.trigger(aria_label="Assistant", id="analytics-assistant"),
                rx.select.content(
                    rx.select.item("All assistants", value="all"),
                    rx.foreach(AnalyticsState.assistants,
                               lambda a: rx.select.item(a["name"], value=a["id"]))),
                name="assistant", default_value=AnalyticsState.assistant,
                key=AnalyticsState.assistant),
            rx.select.root(
                rx.select.trigger(aria_label="Channel", id="analytics-channel"),
                rx.select.content(rx.select.item("All channels", value="all"),
                                  *[rx.select.item(label, value=kind)
                                    for kind, label in CHANNEL_LABELS.items()]),
                name="channel", default_value=AnalyticsState.channel,
                key=AnalyticsState.channel),
            rx.select.root(
                rx.select.trigger(aria_label="Time zone", id="analytics-tz"),
                rx.select.content(rx.foreach(AnalyticsState.zones,
                                             lambda z: rx.select.item(z, value=z))),
                name="tz", default_value=AnalyticsState.tz,
                key=AnalyticsState.tz),
            rx.button("Show", type="submit", id="analytics-apply"),
            rx.spacer(),
            rx.hstack(*[rx.button(f"{d} days", variant="soft", size="1", type="button",
                                  on_click=AnalyticsState.preset(d)) for d in PRESETS],
                      spacing="1"),
            wrap="wrap", spacing="2", width="100%", align="center",
        ),
        on_submit=AnalyticsState.apply, width="100%",
    )


def _card(c: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(c["label"], size="2", color_scheme="gray"),
            rx.text(c["value"], size="6", weight="bold", class_name="metric-value"),
            rx.hstack(
                rx.cond(c["delta"] != "",
                        rx.badge(c["delta"], variant="soft", class_name="metric-delta",
                                 color_scheme=rx.match(c["trend"], *TREND_COLOURS, "gray"))),
                rx.text("before: ", c["before"], size="1", color_scheme="gray"),
                spacing="2", align="center", wrap="wrap"),
            spacing="1"),
        class_name="metric", custom_attrs={"data-metric": c["key"]}, min_width="12rem",
        flex="1",
    )


def _cell(c: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.box(
        title=c["title"].to(str), class_name="heat-cell", custom_attrs={"data-count": c["n"]},
        background=rx.cond(c["n"].to(int) > 0,
                           "color-mix(in srgb, var(--indigo-10) "
                           + (c["alpha"].to(float) * 100).to_string() + "%, transparent)",
                           rx.color("gray", 3)),
        height="1.4rem", min_width="1.1rem", border_radius="3px",
    )


def _heat_map() -> rx.Component:
    hours = rx.hstack(rx.box(width="2.5rem"),
                      *[rx.text(f"{h:02d}" if h % 3 == 0 else "", size="1",
                                color_scheme="gray", min_width="1.1rem", flex="1")
                        for h in range(24)], spacing="1", width="100%")
    rows = rx.foreach(AnalyticsState.heat, lambda row: rx.hstack(
        rx.text(row["weekday"], size="1", width="2.5rem", color_scheme="gray"),
        rx.foreach(row["cells"].to(list[dict[str, Any]]),
                   lambda c: rx.box(_cell(c), flex="1")),
        spacing="1", width="100%", align="center", class_name="heat-row"))
    return rx.box(rx.vstack(hours, rows, spacing="1", min_width="40rem"),
                  overflow_x="auto", width="100%", id="heat-map")


def _reason_row(r: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(rx.table.cell(r["reason"]), rx.table.cell(r["count"]),
                        rx.table.cell(r["share"]), class_name="reason-row")


def _timing_row(t: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(rx.table.cell(t["label"]), rx.table.cell(t["median"]),
                        rx.table.cell(t["p90"]), rx.table.cell(t["count"]),
                        class_name="timing-row")


def _rating_row(t: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(rx.table.cell(t["label"]), rx.table.cell(t["average"]),
                        rx.table.cell(t["count"]), class_name="rating-row")


def _question_row(q: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(q["question"], href=q["link"].to(str), size="2")),
        rx.table.cell(q["count"]), rx.table.cell(q["share"]), class_name="question-row")


def _unanswered_row(u: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(u["assistant"]), rx.table.cell(u["weak"]), rx.table.cell(u["handed"]),
        rx.table.cell(rx.link("See them grouped", href=u["link"].to(str), size="2",
                              class_name="unanswered-link")),
        class_name="unanswered-row")


def _questions() -> rx.Component:
    return rx.cond(
        ~AnalyticsState.questions_loaded, loading(),
        rx.vstack(
            rx.cond(AnalyticsState.top.length() == 0,
                    rx.text("No questions in this period yet.", size="2", color_scheme="gray"),
                    data_table(("Question (the newest wording)", "Conversations", "Share"),
                               AnalyticsState.top, _question_row)),
            hint("Each conversation's first question, grouped by meaning; the newest ",
                 AnalyticsState.questions_read, " were read."),
            rx.hstack(
                rx.heading("Where the assistant could not answer", size="2", as_="h3"),
                rx.spacer(),
                rx.button(rx.icon("download", size=14), "CSV", variant="ghost", size="1",
                          type="button", id="csv-unanswered",
                          on_click=AnalyticsState.export_questions("unanswered")),
                width="100%", align="center"),
            rx.cond(AnalyticsState.unanswered.length() == 0,
                    rx.text("Every question got an answer in this period.", size="2",
                            color_scheme="gray"),
                    data_table(("Assistant", "Unsure or “I don't know” answers",
                                "Handed to a person", ""),
                               AnalyticsState.unanswered, _unanswered_row)),
            spacing="3", width="100%"))


def _body() -> rx.Component:
    charts = rx.grid(
        _section("Conversations per day", "days",
                 bar_chart(AnalyticsState.days, "day",
                           [("ai_only", "AI alone", "indigo"),
                            ("handed", "With a person", "amber")], stacked=True)),
        _section("Messages per day", None,
                 bar_chart(AnalyticsState.days, "day",
                           [("visitor", "Visitors", "gray"), ("ai", "AI", "indigo"),
                            ("operator", "Operators", "amber")], stacked=True)),
        columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%")
    handling = rx.grid(
        _section("Who handled the conversations", "reasons",
                 rx.recharts.pie_chart(
                     rx.recharts.pie(data=AnalyticsState.handling, data_key="value",
                                     name_key="name", inner_radius="55%",
                                     is_animation_active=False),
                     rx.recharts.graphing_tooltip(), rx.recharts.legend(),
                     width="100%", height=200),
                 rx.cond(AnalyticsState.reasons.length() == 0,
                         hint("No conversation went to a person."),
                         data_table(("Why it went to a person", "Conversations", "Share"),
                                    AnalyticsState.reasons, _reason_row))),
        _section("Response times", "timings",
                 data_table(("", "Median", "90th percentile", "Measured"),
                            AnalyticsState.timings, _timing_row),
                 hint("The AI: from a conversation's first message to its first answer. "
                      "People: from the request for a person to a person's first reply. "
                      "Resolution: from the start to the close, of closed conversations.")),
        columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%")
    ratings = rx.grid(
        _section("Satisfaction", "satisfaction",
                 data_table(("Handled by", "Average", "Ratings"), AnalyticsState.ratings,
                            _rating_row),
                 bar_chart(AnalyticsState.stars, "stars",
                           [("ai", "AI alone", "indigo"), ("human", "With a person", "amber")],
                           height=180)),
        _section("AI cost", None,
                 rx.text(AnalyticsState.cost_total, size="7", weight="bold",
                         id="analytics-cost"),
                 rx.text(AnalyticsState.cost_answers, " answers charged · ",
                         AnalyticsState.cost_per, " per conversation", size="2",
                         color_scheme="gray"),
                 rx.link("The ledger, entry by entry", href="/billing", size="2")),
        columns=rx.breakpoints(initial="1", lg="2"), spacing="4", width="100%")
    return rx.vstack(
        _filters(),
        error_callout(AnalyticsState.error, id="analytics-error"),
        rx.hstack(hint("Compared with ", AnalyticsState.compared, " · days and hours in ",
                       AnalyticsState.tz, " · figures are up to a minute behind"),
                  rx.spacer(), _csv("summary"), width="100%", align="center"),
        rx.flex(rx.foreach(AnalyticsState.cards, _card), wrap="wrap", gap="3",
                width="100%", id="analytics-cards"),
        rx.cond(AnalyticsState.empty, empty_state("chart_column", rx.text(
            "No conversations in this period. Put the widget on your site or connect a "
            "Telegram bot, and the figures appear here.", color_scheme="gray"),
            rx.link("Set up the widget", href="/widget"))),
        charts, handling, ratings,
        _section("Busiest hours (visitors' messages)", "hours", _heat_map()),
        rx.card(rx.vstack(
            rx.hstack(rx.heading("Top questions", size="3", as_="h2"), rx.spacer(),
                      rx.button(rx.icon("download", size=14), "CSV", variant="ghost",
                                size="1", type="button", id="csv-questions",
                                on_click=AnalyticsState.export_questions("questions")),
                      width="100%", align="center"),
            _questions(), spacing="3", width="100%"), width="100%"),
        spacing="4", width="100%",
    )


@dashboard_page("/analytics", "Analytics", role="admin", on_load=[AnalyticsState.load],
                nav=Nav("Analytics", "chart_column", 105))
def analytics_page() -> rx.Component:
    return rx.cond(AnalyticsState.loaded, _body(), loading())
