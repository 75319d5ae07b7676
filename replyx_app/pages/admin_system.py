"""Platform admin → System: database and Valkey size and growth, the job queue with
failed jobs to retry, every process on every host, the error rate, and every tenant's
Telegram bots with stop, start and restart."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import action_button, row_actions
from components.charts import bar_chart
from components.panels import data_table, hint, loading, section
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin_system import AdminSystemState as S

# The page follows the platform by itself; each refresh re-reads every figure.
REFRESH_MS = 10_000
STATUS_COLOURS = {"running": "green", "starting": "blue", "stopping": "amber",
                  "stopped": "gray", "error": "red", "offline": "red"}


def _cells(*keys: str) -> Any:
    def row(r: ObjectVar[dict[str, str]]) -> rx.Component:
        return rx.table.row(*[rx.table.cell(r[k]) for k in keys])
    return row


def _quiet(text: str) -> rx.Component:
    return rx.text(text, size="2", color_scheme="gray")


def _scroll(child: rx.Component, **props: Any) -> rx.Component:
    return rx.box(child, overflow_x="auto", width="100%", **props)


def _cards() -> rx.Component:
    return rx.flex(rx.foreach(S.cards, lambda c: rx.card(rx.vstack(
        rx.text(c["title"], size="2", color_scheme="gray"),
        rx.text(c["value"], size="6", weight="bold"),
        rx.text(c["note"], size="1", color_scheme="gray"), spacing="1"),
        min_width="10rem", flex="1", id="system-card-" + c["id"].to(str))),
        wrap="wrap", gap="3", width="100%")


def _traffic() -> rx.Component:
    return section(
        "Requests and errors per minute, last hour",
        bar_chart(S.traffic, "minute", [("ok", "Answered", "indigo"),
                                        ("client", "Refused (4xx)", "amber"),
                                        ("server", "Failed (5xx)", "red"),
                                        ("handler", "Page actions failed", "crimson")],
                  stacked=True, height=200),
        hint("Summed over every web worker on every host. Refusals are the caller's "
             "mistake (a wrong link, a missing sign-in); failures are ours."),
    )


def _database() -> rx.Component:
    return section(
        "Database",
        rx.cond(S.database_days.length() == 0,
                _quiet("Growth appears once the jobs process has taken its first hourly "
                       "sample."),
                bar_chart(S.database_days, "day", [("mb", "Size, MB", "teal")], height=160)),
        rx.heading("Largest tables: size a week ago and growth since", size="2", as_="h3"),
        bar_chart(S.tables_chart, "name", [("before", "A week ago, MB", "gray"),
                                           ("growth", "Growth, MB", "teal")],
                  stacked=True, height=200),
        _scroll(data_table(("Table", "Size with indexes", "Rows", "Growth in 7 days"),
                           S.tables, _cells("name", "size", "rows", "growth"),
                           id="system-tables"), max_height="24rem", overflow_y="auto"),
    )


def _valkey() -> rx.Component:
    return section(
        "Valkey",
        rx.cond(S.valkey_days.length() == 0,
                _quiet("Memory per day appears after the first hourly sample."),
                bar_chart(S.valkey_days, "day", [("mb", "Memory, MB", "plum")], height=160)),
        _scroll(data_table(("Kind of key", "Keys"), S.families, _cells("family", "keys"),
                           id="system-key-families")),
        hint(S.sampled_note),
    )


def _failed_row(j: ObjectVar[dict[str, str]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(j["id"]), rx.table.cell(j["task"]), rx.table.cell(j["queue"]),
        rx.table.cell(j["attempts"]), rx.table.cell(rx.code(j["args"])),
        rx.table.cell(j["failed_at"]),
        rx.table.cell(action_button("rotate_ccw", "Retry", S.retry_job(j["id"].to(int)),
                                    id="retry-job-" + j["id"])),
        class_name="failed-job",
    )


def _jobs() -> rx.Component:
    return section(
        "Job queue",
        rx.cond(S.queues.length() == 0, _quiet("No jobs waiting, running or failed."),
                _scroll(data_table(("Queue", "Waiting", "Later", "Running", "Failed",
                                    "Oldest waiting"), S.queues,
                                   _cells("queue", "waiting", "scheduled", "running",
                                          "failed", "oldest"), id="system-queues"))),
        rx.cond(S.failed_jobs.length() == 0, _quiet("No failed jobs."), rx.vstack(
            rx.hstack(rx.heading("Failed jobs", size="2", as_="h3"),
                      action_button("rotate_ccw", "Retry all", S.retry_all,
                                    id="retry-all-jobs"), align="center", spacing="3"),
            _scroll(data_table(("Job", "Task", "Queue", "Attempts", "Arguments",
                                "Failed at", ""), S.failed_jobs, _failed_row,
                               id="system-failed-jobs")),
            hint("Why a job failed is in the jobs process's log under its id. A retry "
                 "runs it once more, now."),
            width="100%")),
    )


def _processes() -> rx.Component:
    return section(
        "Processes on every host",
        rx.cond(S.processes.length() == 0,
                _quiet("No process has reported in the last half minute."),
                _scroll(data_table(("Process", "Host", "PID", "Last heard", "Reports"),
                                   S.processes,
                                   _cells("kind", "host", "pid", "seen", "details"),
                                   id="system-processes"))),
    )


def _bot_row(b: ObjectVar[dict[str, str]]) -> rx.Component:
    status = rx.match(b["status"], *[(k, rx.badge(k, color_scheme=c))  # type: ignore[arg-type]
                                     for k, c in STATUS_COLOURS.items()],
                      rx.badge(b["status"]))
    channel_id = b["id"].to(int)
    return rx.table.row(
        rx.table.cell(b["workspace"]), rx.table.cell(b["username"]),
        rx.table.cell(rx.vstack(status, rx.text(b["error"], size="1", color_scheme="red"),
                                spacing="1")),
        rx.table.cell(b["mode"]), rx.table.cell(b["worker"]), rx.table.cell(b["last"]),
        rx.table.cell(b["today"]),
        rx.table.cell(row_actions(
            rx.cond(b["desired"] == "running",
                    action_button("square", "Stop", S.set_bot_running(channel_id, False),
                                  color_scheme="red", id="stop-bot-" + b["id"]),
                    action_button("play", "Start", S.set_bot_running(channel_id, True),
                                  id="start-bot-" + b["id"])),
            action_button("refresh_cw", "Restart", S.restart_bot(channel_id),
                          id="restart-bot-" + b["id"]))),
        class_name="fleet-bot",
    )


def _bots() -> rx.Component:
    return section(
        "Telegram bots of every workspace",
        rx.flex(rx.foreach(S.bot_counts, lambda c: rx.badge(
            c["status"] + ": " + c["count"], size="2", variant="soft")), gap="2",
            wrap="wrap"),
        rx.form(rx.hstack(
            rx.input(name="q", placeholder="@username or workspace", aria_label="Find a bot",
                     default_value=S.bot_query, id="bot-search"),
            rx.button("Find", type="submit"), spacing="2"), on_submit=S.search_bots),
        rx.cond(S.bots.length() == 0, _quiet("No bots match."), _scroll(data_table(
            ("Workspace", "Bot", "Status", "Mode", "Worker", "Last activity", "Today", ""),
            S.bots, _bot_row, id="system-bots"))),
        rx.hstack(
            action_button("chevron_left", "Previous", S.turn_bot_page(-1),
                          disabled=S.bot_page == 0, aria_label="Previous bots"),
            rx.text(f"Page {S.bot_page + 1} of {S.bot_pages} · {S.bot_total} bots", size="2"),
            action_button("chevron_right", "Next", S.turn_bot_page(1),
                          disabled=S.bot_page + 1 >= S.bot_pages, aria_label="Next bots"),
            align="center", spacing="3"),
        hint("Stopping here stops the bot as its workspace's admin would, and shows in "
             "that workspace's audit log as done by the platform administrator."),
    )


def _body() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text("Updated ", S.updated, size="2", color_scheme="gray", id="system-updated"),
            action_button("refresh_cw", "Refresh", S.refresh, id="system-refresh"),
            rx.moment(interval=REFRESH_MS, on_change=S.refresh, display="none"),
            align="center", spacing="3"),
        rx.cond(S.problems.length() > 0, rx.callout(
            rx.vstack(rx.text("Some figures could not be read:"),
                      rx.foreach(S.problems, rx.text), spacing="1"),
            icon="triangle_alert", color_scheme="red", width="100%", id="system-problems")),
        _cards(),
        rx.grid(_traffic(), _processes(), columns=rx.breakpoints(initial="1", lg="2"),
                spacing="4", width="100%"),
        rx.grid(_database(), _valkey(), columns=rx.breakpoints(initial="1", lg="2"),
                spacing="4", width="100%"),
        _jobs(),
        _bots(),
        spacing="4", width="100%",
    )


@dashboard_page("/admin/system", "System", role="platform_admin", on_load=[S.load],
                nav=Nav("System", "activity", 139))
def admin_system_page() -> rx.Component:
    return rx.cond(S.loaded, _body(), loading())
