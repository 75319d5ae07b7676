"""Dialogs: the confirmation asked before deleting or revoking, and the editor frame."""

from __future__ import annotations

from typing import Any

import reflex as rx


def confirm_dialog(title: Any, description: str, *, confirm: str, on_confirm: Any,
                   on_cancel: Any, open: Any) -> rx.Component:
    """A red-button confirmation (`#confirm-delete`); `title` is text or a list of parts."""
    parts = title if isinstance(title, (list, tuple)) else [title]
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(*parts),
            rx.alert_dialog.description(description),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray",
                                                 on_click=on_cancel)),
                rx.alert_dialog.action(rx.button(confirm, color_scheme="red",
                                                 id="confirm-delete", on_click=on_confirm)),
                justify="end", spacing="3", margin_top="1rem",
            ),
        ),
        open=open,
    )


def dialog_buttons(save: str, save_id: str, **props: Any) -> rx.Component:
    """Cancel (closes the dialog) and the form's submit button, right-aligned."""
    return rx.hstack(
        rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
        rx.button(save, type="submit", id=save_id),
        justify="end", width="100%", **props,
    )


def editor_dialog(title: Any, *body: rx.Component, open: Any, on_open_change: Any,
                  max_width: str = "40rem") -> rx.Component:
    """A dialog holding an editor form; `title` is text or a list of parts."""
    parts = title if isinstance(title, (list, tuple)) else [title]
    return rx.dialog.root(
        rx.dialog.content(rx.dialog.title(*parts), *body, max_width=max_width),
        open=open,
        on_open_change=on_open_change,
    )
