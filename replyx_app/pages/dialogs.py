"""Dialogs: every conversation, searchable by text and filterable; opens in the console."""

from __future__ import annotations

import reflex as rx

from components.panels import data_table
from components.pickers import assistant_select
from replyx_app.pages.registry import Nav, dashboard_page
from state.dialogs import DialogsState


def _select(name: str, label: str, items: list[tuple[str, str]]) -> rx.Component:
    return rx.vstack(
        rx.text(label, size="1", weight="medium", as_="label", html_for=name),
        rx.select.root(
            rx.select.trigger(id=name, width="9rem"),
            rx.select.content(*[rx.select.item(text, value=value) for value, text in items]),
            name=name,
            default_value="any",
        ),
        spacing="1",
    )


def _filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.vstack(
                rx.text("Search", size="1", weight="medium", as_="label", html_for="text"),
                rx.input(
                    name="text", id="text", placeholder="Words, name, e-mail or #id", width="16rem"
                ),
                spacing="1",
            ),
            _select(
                "status",
                "Status",
                [
                    ("any", "Any status"),
                    ("ai", "AI"),
                    ("requested", "Waiting"),
                    ("active", "With a human"),
                    ("closed", "Closed"),
                ],
            ),
            _select(
                "channel",
                "Channel",
                [("any", "Any channel"), ("widget", "Website"), ("telegram", "Telegram")],
            ),
            rx.cond(
                DialogsState.assistant_options.length() > 0,
                rx.vstack(
                    rx.text("Assistant", size="1", weight="medium"),
                    assistant_select(
                        DialogsState.assistant_options,
                        "assistant",
                        name="assistant",
                        trigger={"placeholder": "Any assistant", "width": "10rem"},
                    ),
                    spacing="1",
                ),
            ),
            rx.vstack(
                rx.text("From", size="1", weight="medium", as_="label", html_for="date_from"),
                rx.input(type="date", name="date_from", id="date_from"),
                spacing="1",
            ),
            rx.vstack(
                rx.text("To", size="1", weight="medium", as_="label", html_for="date_to"),
                rx.input(type="date", name="date_to", id="date_to"),
                spacing="1",
            ),
            rx.button(rx.icon("search", size=14), "Search", type="submit", id="dialog-search"),
            align="end",
            spacing="3",
            wrap="wrap",
        ),
        on_submit=DialogsState.search,
        reset_on_submit=False,
    )


def _row(r: rx.Var) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(rx.text("#", r["id"]), href=f"/console?d={r['id']}")),
        rx.table.cell(r["contact"]),
        rx.table.cell(
            rx.text(
                r["preview"],
                trim="both",
                max_width="28rem",
                overflow="hidden",
                text_overflow="ellipsis",
                white_space="nowrap",
            )
        ),
        rx.table.cell(rx.badge(r["status"], variant="soft")),
        rx.table.cell(r["channel"]),
        rx.table.cell(r["assistant"]),
        rx.table.cell(rx.cond(r["operator"] != "", r["operator"], "—")),
        rx.table.cell(rx.cond(r["rating"].to(int) > 0, rx.text(r["rating"], "★"), "—")),
        rx.table.cell(r["created"]),
        class_name="dialog-row",
    )


@dashboard_page(
    "/dialogs",
    "Dialogs",
    role="operator",
    on_load=[DialogsState.load],
    nav=Nav("Dialogs", "messages_square", 60),
)
def dialogs_page() -> rx.Component:
    return rx.vstack(
        _filters(),
        rx.cond(
            ~DialogsState.loaded,
            rx.center(rx.spinner(size="3"), width="100%", padding="2rem"),
            rx.cond(
                DialogsState.rows.length() == 0,
                rx.center(
                    rx.text("No conversations match.", color=rx.color("gray", 10)),
                    width="100%",
                    padding="2rem",
                    id="dialogs-empty",
                ),
                data_table(
                    ("Id", "Contact", "Last message", "Status", "Channel", "Assistant",
                     "Operator", "Rating", "Started"),
                    DialogsState.rows,
                    _row,
                    variant="ghost",
                    size="1",
                ),
            ),
        ),
        rx.cond(
            DialogsState.more,
            rx.button("Load more", variant="soft", on_click=DialogsState.load_more),
        ),
        spacing="4",
        width="100%",
    )
