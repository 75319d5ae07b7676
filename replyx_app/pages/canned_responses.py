"""Canned responses page: saved replies that operators insert in the console by shortcut."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import action_button, new_button, row_actions
from components.dialogs import confirm_dialog, dialog_buttons, editor_dialog
from components.forms import error_callout, field, textarea_field
from components.panels import data_table, empty_state, list_page
from replyx_app.pages.registry import Nav, dashboard_page
from state.canned_responses import CannedResponsesState

_CLAMP_3 = {"display": "-webkit-box", "-webkit-line-clamp": "3",
            "-webkit-box-orient": "vertical", "overflow": "hidden"}


def _row(c: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code("/", c["shortcut"], variant="ghost", size="2", weight="bold",
                              white_space="nowrap")),
        rx.table.cell(rx.cond(c["title"] != "", rx.text(c["title"], weight="medium"),
                              rx.text("—", color_scheme="gray"))),
        rx.table.cell(rx.text(c["body"], size="2", color_scheme="gray", white_space="pre-wrap",
                              style=_CLAMP_3)),
        rx.table.cell(row_actions(
            action_button("pencil", "Edit", CannedResponsesState.open_edit(c["id"])),
            action_button("trash_2", "Delete",
                          CannedResponsesState.ask_delete(c["id"], c["shortcut"]),
                          color_scheme="red"),
        )),
        class_name="canned-row",
    )


def _editor() -> rx.Component:
    draft = CannedResponsesState.draft
    shortcut = field("Shortcut", "shortcut", default_value=draft["shortcut"], required=True,
                     max_length=33, auto_focus=True, placeholder="refund", auto_complete="off")
    return editor_dialog(
        rx.cond(CannedResponsesState.editing_id == 0, "New canned response",
                "Edit canned response"),
        rx.dialog.description(
            "Operators type “/” and the shortcut in the console to insert the reply.",
            size="2", color=rx.color("gray", 11), margin_bottom="1rem",
        ),
        rx.form(
            rx.vstack(
                rx.el.input(type="hidden", name="canned_id",
                            value=CannedResponsesState.editing_id.to(str)),
                error_callout(CannedResponsesState.form_error),
                rx.hstack(
                    rx.box(shortcut, width="12rem", flex_shrink="0"),
                    field("Title", "title", default_value=draft["title"], max_length=120,
                          placeholder="Refund policy"),
                    width="100%", spacing="3",
                ),
                textarea_field("Reply", "body", default_value=draft["body"], rows="7",
                               max_length=4000, required=True,
                               placeholder="You can return any item within 30 days…"),
                dialog_buttons("Save", "canned-save"),
                spacing="3",
            ),
            key=CannedResponsesState.editor_key, on_submit=CannedResponsesState.save,
            reset_on_submit=False,
        ),
        open=CannedResponsesState.editor_open,
        on_open_change=CannedResponsesState.set_editor_open,
    )


def _delete_confirm() -> rx.Component:
    return confirm_dialog(
        ["Delete /", CannedResponsesState.confirm_delete_shortcut, "?"],
        "Operators can no longer insert it. This cannot be undone.",
        confirm="Delete",
        on_confirm=CannedResponsesState.delete(CannedResponsesState.confirm_delete_id),
        on_cancel=CannedResponsesState.cancel_delete,
        open=CannedResponsesState.confirm_delete_id != 0,
    )


@dashboard_page("/canned", "Canned responses", role="admin",
                on_load=[CannedResponsesState.load],
                nav=Nav("Canned responses", "message_square_text", 80))
def canned_responses_page() -> rx.Component:
    empty = empty_state(
        "message_square_text",
        rx.text("No canned responses yet."),
        rx.text("Save the answers your team types again and again.", size="2",
                color_scheme="gray"),
        rx.button("Create the first one", on_click=CannedResponsesState.open_new),
        id="canned-empty",
    )
    table = data_table([("Shortcut", "10rem"), ("Title", "14rem"), "Reply", ("", "10rem")],
                       CannedResponsesState.items, _row)
    return list_page("Saved replies your operators insert in the console by typing “/” and the "
                     "shortcut.",
                     new_button("New response", CannedResponsesState.open_new, "new-canned"),
                     CannedResponsesState.loaded, CannedResponsesState.items, empty, table,
                     _editor(), _delete_confirm())
