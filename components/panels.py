"""Page pieces: labels and hints, section cards, tables, the loading and empty states."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import reflex as rx


def label(text: str, for_id: str) -> rx.Component:
    return rx.text(text, as_="label", html_for=for_id, size="2", weight="medium")


def hint(*children: Any) -> rx.Component:
    return rx.text(*children, size="1", color_scheme="gray")


def section(title: str, *children: rx.Component, spacing: str = "4",
            **props: Any) -> rx.Component:
    """A card with a heading over its children."""
    return rx.card(
        rx.vstack(rx.heading(title, size="3", as_="h2"), *children, spacing=spacing,
                  width="100%"),
        width="100%",
        **props,
    )


def loading() -> rx.Component:
    return rx.center(rx.spinner(), padding="2rem", width="100%")


def empty_state(icon: str, *children: Any, **props: Any) -> rx.Component:
    """A dashed box saying there is nothing yet, with an icon above `children`."""
    return rx.center(
        rx.vstack(rx.icon(icon, size=36, color=rx.color("gray", 8)), *children, align="center",
                  **({"spacing": props.pop("spacing")} if "spacing" in props else {})),
        padding="3rem",
        width="100%",
        border=f"1px dashed {rx.color('gray', 6)}",
        border_radius="var(--radius-4)",
        **props,
    )


def data_table(columns: Sequence[str | tuple[str, str]], rows: Any,
               row: Callable[[Any], rx.Component], **props: Any) -> rx.Component:
    """A surface table: a header cell per column (a title, or a title and a width) and a
    row per item of `rows`."""
    cells = [rx.table.column_header_cell(c) if isinstance(c, str)
             else rx.table.column_header_cell(c[0], width=c[1]) for c in columns]
    return rx.table.root(
        rx.table.header(rx.table.row(*cells)),
        rx.table.body(rx.foreach(rows, row)),
        width="100%", **{"variant": "surface", **props},
    )


def loaded_list(loaded: Any, items: Any, empty: rx.Component,
                listing: rx.Component) -> rx.Component:
    """A spinner until `loaded`, then `empty` when `items` has none, else `listing`."""
    return rx.cond(~loaded, loading(), rx.cond(items.length() == 0, empty, listing))


def list_page(intro: str, new: rx.Component, loaded: Any, items: Any, empty: rx.Component,
              listing: rx.Component, *dialogs: rx.Component) -> rx.Component:
    """A page listing the workspace's items: the intro line with the `new` button, the list
    (see `loaded_list`), and the page's dialogs."""
    return rx.vstack(
        rx.hstack(rx.text(intro, color_scheme="gray"), rx.spacer(), new, width="100%",
                  align="center"),
        loaded_list(loaded, items, empty, listing),
        *dialogs,
        spacing="4", width="100%",
    )
