"""Buttons: the small soft buttons of a table row, a page's "New …" button, and the
Save / Discard pair under a settings form."""

from __future__ import annotations

from typing import Any

import reflex as rx


def action_button(icon: str | None, text: Any, on_click: Any, **props: Any) -> rx.Component:
    """A small soft button: an optional icon, then `text` ("" for an icon-only button, which
    then needs an `aria_label`). `props` (color_scheme, size, variant, id…) override."""
    parts = ([rx.icon(icon, size=14)] if icon else []) + ([text] if text != "" else [])
    if on_click is not None:  # None: a menu's trigger, which opens the menu itself
        props["on_click"] = on_click
    return rx.button(*parts, **{"size": "1", "variant": "soft", **props})


def delete_icon_button(aria_label: str, on_click: Any) -> rx.Component:
    """The red bin button of a row that has no "Delete" text."""
    return action_button("trash_2", "", on_click, color_scheme="red", aria_label=aria_label)


def row_actions(*buttons: rx.Component, **props: Any) -> rx.Component:
    return rx.hstack(*buttons, **{"spacing": "2", **props})


def toggle_button(on: Any, when_on: tuple[str, Any], when_off: tuple[str, Any],
                  **off_props: Any) -> rx.Component:
    """One of two small buttons, by `on`: (text, on_click) each; `off_props` style the
    second (e.g. color_scheme="red" for "Block")."""
    return rx.cond(on, action_button(None, when_on[0], when_on[1]),
                   action_button(None, when_off[0], when_off[1], **off_props))


def new_button(text: str, on_click: Any, element_id: str) -> rx.Component:
    return rx.button(rx.icon("plus", size=16), text, on_click=on_click, id=element_id)


def save_and_discard(save_id: str, discard: Any, *, submit: bool = False,
                     on_save: Any = None) -> rx.Component:
    """Save (the form's submit button, or `on_save`) and "Discard changes" (`discard`)."""
    save_props: dict[str, Any] = {"type": "submit"} if submit else {"on_click": on_save}
    discard_props: dict[str, Any] = {"type": "button"} if submit else {}
    return rx.hstack(
        rx.button(rx.icon("save", size=16), "Save", id=save_id, **save_props),
        rx.button("Discard changes", variant="soft", color_scheme="gray", on_click=discard,
                  **discard_props),
        spacing="3",
    )
