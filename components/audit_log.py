"""The audit log viewer (filters, table, pages, CSV), for the admin's and the owner's page."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.panels import data_table, empty_state, loading


def _line(a: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(a["at"], white_space="nowrap")),
        rx.table.cell(rx.code(a["action"])),
        rx.table.cell(a["actor"]),
        rx.table.cell(a["workspace"]),
        rx.table.cell(rx.vstack(rx.text(a["target"]),
                                rx.cond(a["details"] != "",
                                        rx.text(a["details"], size="1", color_scheme="gray",
                                                style={"word_break": "break-all"})),
                                spacing="0")),
        rx.table.cell(a["ip"]),
        class_name="audit-row",
    )


def _filters(state: Any, with_workspace: bool) -> rx.Component:
    def box(label: str, name: str, value: Any, **props: Any) -> rx.Component:
        return rx.vstack(rx.text(label, as_="label", html_for=f"audit-{name}", size="1"),
                         rx.input(name=name, id=f"audit-{name}", default_value=value, **props),
                         spacing="1")

    return rx.form(
        rx.flex(
            box("Actor (e-mail or name)", "actor", state.f_actor, placeholder="anyone"),
            *([box("Workspace (name or id)", "workspace", state.f_workspace,
                   placeholder="any")] if with_workspace else []),
            rx.vstack(
                rx.text("Action", size="1"),
                rx.select.root(
                    rx.select.trigger(id="audit-action", min_width="12rem"),
                    rx.select.content(rx.foreach(state.actions, lambda a: rx.select.item(
                        rx.cond(a == "all", "any action", a), value=a))),
                    name="action", default_value=state.f_action,
                ),
                spacing="1"),
            box("From", "since", state.f_since, type="date"),
            box("To", "until", state.f_until, type="date"),
            rx.button("Apply", type="submit", id="audit-apply"),
            wrap="wrap", spacing="3", align="end",
        ),
        on_submit=state.apply,
    )


def audit_viewer(state: Any, *, csv_url: str, with_workspace: bool) -> rx.Component:
    """`state` is one of state/audit_log.py's states; `csv_url` the export route."""
    pager = rx.hstack(
        rx.text(state.total, " entries · page ", state.page, " of ", state.pages, size="2",
                id="audit-count"),
        rx.spacer(),
        rx.button("Newer", rx.icon("chevron_left", size=16), variant="soft",
                  disabled=state.page <= 1, on_click=state.go(state.page - 1),
                  id="audit-newer"),
        rx.button("Older", rx.icon("chevron_right", size=16), variant="soft",
                  disabled=state.page >= state.pages, on_click=state.go(state.page + 1),
                  id="audit-older"),
        rx.link(rx.button(rx.icon("download", size=16), "CSV", variant="outline"),
                href=csv_url + "?" + state.csv_query, id="audit-csv", is_external=True),
        width="100%", align="center", wrap="wrap",
    )
    return rx.vstack(
        _filters(state, with_workspace),
        pager,
        rx.cond(
            ~state.loaded, loading(),
            rx.cond(state.lines.length() == 0,
                    empty_state("scroll_text", rx.text("No entry matches these filters."),
                                id="audit-empty"),
                    rx.box(data_table(("When (UTC)", "Action", "Actor", "Workspace",
                                       "Target and details", "Address"),
                                      state.lines, _line, size="1"),
                           width="100%", overflow_x="auto")),
        ),
        spacing="4", width="100%",
    )
