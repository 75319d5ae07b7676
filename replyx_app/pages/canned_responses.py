"""Canned responses page: saved replies that operators insert in the console by shortcut."""

from __future__ import annotations

import reflex as rx

from components.dialogs import confirm_dialog, dialog_buttons, editor_dialog
from components.forms import error_callout, field, textarea_field
from components.panels import data_table, empty_state, loading
from replyx_app.pages.registry import Nav, dashboard_page
from state.canned_responses import CannedResponsesState


def _row(c: rx.Var) -> rx.Component:  # type: ignore[type-arg]
    return rx.table.row(
        rx.table.cell(
            rx.code(
                "/", c["shortcut"], variant="ghost", size="2", weight="bold", white_space="nowrap"
            )
        ),
        rx.table.cell(
            rx.cond(
                c["title"] != "",
                rx.text(c["title"], weight="medium"),
                rx.text("—", color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.text(
                c["body"],
                size="2",
                color_scheme="gray",
                white_space="pre-wrap",
                style={
                    "display": "-webkit-box",
                    "-webkit-line-clamp": "3",
                    "-webkit-box-orient": "vertical",
                    "overflow": "hidden",
                },
            )
        ),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    rx.icon("pencil", size=14),
                    "Edit",
                    size="1",
                    variant="soft",
                    on_click=CannedResponsesState.open_edit(c["id"]),
                ),
                rx.button(
                    rx.icon("trash_2", size=14),
                    "Delete",
                    size="1",
                    variant="soft",
                    color_scheme="red",
                    on_click=CannedResponsesState.ask_delete(c["id"], c["shortcut"]),
                ),
                spacing="2",
            )
        ),
        class_name="canned-row",
    )


def _editor() -> rx.Component:
    return editor_dialog(
        rx.cond(
            CannedResponsesState.editing_id == 0, "New canned response", "Edit canned response"
        ),
        rx.dialog.description(
            "Operators type “/” and the shortcut in the console to insert the reply.",
            size="2",
            color=rx.color("gray", 11),
            margin_bottom="1rem",
        ),
        rx.form(
            rx.vstack(
                rx.el.input(
                    type="hidden",
                    name="canned_id",
                    value=CannedResponsesState.editing_id.to(str),
                ),
                error_callout(CannedResponsesState.form_error),
                rx.hstack(
                    rx.box(
                        field(
                            "Shortcut",
                            "shortcut",
                            default_value=CannedResponsesState.draft["shortcut"],
                            required=True,
                            max_length=33,
                            auto_focus=True,
                            placeholder="refund",
                            auto_complete="off",
                        ),
                        width="12rem",
                        flex_shrink="0",
                    ),
                    field(
                        "Title",
                        "title",
                        default_value=CannedResponsesState.draft["title"],
                        max_length=120,
                        placeholder="Refund policy",
                    ),
                    width="100%",
                    spacing="3",
                ),
                textarea_field(
                    "Reply",
                    "body",
                    default_value=CannedResponsesState.draft["body"],
                    rows="7",
                    max_length=4000,
                    required=True,
                    placeholder="You can return any item within 30 days…",
                ),
                dialog_buttons("Save", "canned-save"),
                spacing="3",
            ),
            key=CannedResponsesState.editor_key,
            on_submit=CannedResponsesState.save,
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


@dashboard_page(
    "/canned",
    "Canned responses",
    role="admin",
    on_load=[CannedResponsesState.load],
    nav=Nav("Canned responses", "message_square_text", 80),
)
def canned_responses_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(
                "Saved replies your operators insert in the console by typing “/” and "
                "the shortcut.",
                color_scheme="gray",
            ),
            rx.spacer(),
            rx.button(
                rx.icon("plus", size=16),
                "New response",
                on_click=CannedResponsesState.open_new,
                id="new-canned",
            ),
            width="100%",
            align="center",
        ),
        rx.cond(
            ~CannedResponsesState.loaded,
            loading(),
            rx.cond(
                CannedResponsesState.items.length() == 0,
                empty_state(
                    "message_square_text",
                    rx.text("No canned responses yet."),
                    rx.text(
                        "Save the answers your team types again and again.",
                        size="2",
                        color_scheme="gray",
                    ),
                    rx.button("Create the first one", on_click=CannedResponsesState.open_new),
                    id="canned-empty",
                ),
                data_table(
                    [("Shortcut", "10rem"), ("Title", "14rem"), "Reply", ("", "10rem")],
                    CannedResponsesState.items,
                    _row,
                ),
            ),
        ),
        _editor(),
        _delete_confirm(),
        spacing="4",
        width="100%",
    )
