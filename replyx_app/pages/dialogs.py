"""Dialogs: every conversation, searchable by text and filterable; opens in the console."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.panels import data_table
from components.pickers import assistant_select
from replyx_app.pages.registry import Nav, dashboard_page
from state.dialogs import DialogsState

_STATUSES = [("any", "Any status"), ("ai", "AI"), ("requested", "Waiting"),
             ("active", "With a human"), ("closed", "Closed")]
_CHANNELS = [("any", "Any channel"), ("widget", "Website"), ("telegram", "Telegram")]


def _filter(title: str, name: str | None, control: rx.Component) -> rx.Component:
    """A small label over one filter; `name` None: a label that names no element."""
    label_props: dict[str, Any] = {"as_": "label", "html_for": name} if name else {}
    return rx.vstack(rx.text(title, size="1", weight="medium", **label_props), control,
                     spacing="1")


def _select(name: str, title: str, items: list[tuple[str, str]]) -> rx.Component:
    return _filter(title, name, rx.select.root(
        rx.select.trigger(id=name, width="9rem"),
        rx.select.content(*[rx.select.item(text, value=value) for value, text in items]),
        name=name, default_value="any",
    ))


def _filters() -> rx.Component:
    assistants = assistant_select(DialogsState.assistant_options, "assistant", name="assistant",
                                  trigger={"placeholder": "Any assistant", "width": "10rem"})
    return rx.form(
        rx.hstack(
            _filter("Search", "text", rx.input(name="text", id="text", width="16rem",
                                               placeholder="Words, name, e-mail or #id")),
            _select("status", "Status", _STATUSES),
            _select("channel", "Channel", _CHANNELS),
            rx.cond(DialogsState.assistant_options.length() > 0,
                    _filter("Assistant", None, assistants)),
            *[_filter(title, name, rx.input(type="date", name=name, id=name))
              for title, name in (("From", "date_from"), ("To", "date_to"))],
            rx.button(rx.icon("search", size=14), "Search", type="submit", id="dialog-search"),
            align="end", spacing="3", wrap="wrap",
        ),
        on_submit=DialogsState.search, reset_on_submit=False,
    )


def _row(r: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(rx.text("#", r["id"]), href=f"/console?d={r['id']}")),
        rx.table.cell(r["contact"]),
        rx.table.cell(rx.text(r["preview"], trim="both", max_width="28rem", overflow="hidden",
                              text_overflow="ellipsis", white_space="nowrap")),
        rx.table.cell(rx.badge(r["status"], variant="soft")),
        rx.table.cell(r["channel"]),
        rx.table.cell(r["assistant"]),
        rx.table.cell(rx.cond(r["operator"] != "", r["operator"], "—")),
        rx.table.cell(rx.cond(r["rating"].to(int) > 0, rx.text(r["rating"], "★"), "—")),
        rx.table.cell(r["created"]),
        class_name="dialog-row",
    )


@dashboard_page("/dialogs", "Dialogs", role="operator", on_load=[DialogsState.load],
                nav=Nav("Dialogs", "messages_square", 60))
def dialogs_page() -> rx.Component:
    empty = rx.center(rx.text("No conversations match.", color=rx.color("gray", 10)),
                      width="100%", padding="2rem", id="dialogs-empty")
    table = data_table(("Id", "Contact", "Last message", "Status", "Channel", "Assistant",
                        "Operator", "Rating", "Started"), DialogsState.rows, _row,
                       variant="ghost", size="1")
    return rx.vstack(
        _filters(),
        rx.cond(~DialogsState.loaded,
                rx.center(rx.spinner(size="3"), width="100%", padding="2rem"),
                rx.cond(DialogsState.rows.length() == 0, empty, table)),
        rx.cond(DialogsState.more,
                rx.button("Load more", variant="soft", on_click=DialogsState.load_more)),
        spacing="4", width="100%",
    )
