"""Form pieces: labelled inputs and inline errors, keyboard friendly (Enter submits)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import reflex as rx


def field(label: str | rx.Var[str], name: str, *, type: str = "text", **props: Any) -> rx.Component:
    element_id = props.pop("id", name)
    return labelled(label, element_id, rx.input(name=name, id=element_id, type=type,
                                                width="100%", size="3", **props))


def textarea_field(label: str | rx.Var[str], name: str, **props: Any) -> rx.Component:
    return labelled(label, name, rx.text_area(name=name, id=name, width="100%", **props))


def error_callout(message: rx.Var[str], id: str = "form-error") -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert",
                   width="100%", id=id),
    )


def success_callout(message: str | rx.Var[str], **props: Any) -> rx.Component:
    return rx.callout(message, icon="circle_check", color_scheme="green", width="100%", **props)


def select_field(label: str | rx.Var[str], name: str, items: Iterable[tuple[str, str]],
                 **props: Any) -> rx.Component:
    """A labelled select of (value, text) items posted with the form as `name`."""
    return rx.vstack(
        rx.text(label, size="2", weight="medium"),
        rx.select.root(
            rx.select.trigger(width="100%", id=name),
            rx.select.content(*[rx.select.item(text, value=value) for value, text in items]),
            name=name, **props,
        ),
        spacing="1", width="100%",
    )


def labelled(title: str | rx.Var[str], element_id: str, control: rx.Component, note: Any = None,
             **props: Any) -> rx.Component:
    """A label over `control` (whose id is `element_id`), with an optional hint below;
    `width=None` leaves the column as wide as its content."""
    return rx.vstack(
        rx.text(title, as_="label", html_for=element_id, size="2", weight="medium"), control,
        *([rx.text(note, size="1", color_scheme="gray")] if note else []),
        **{k: v for k, v in {"spacing": "1", "width": "100%", **props}.items() if v is not None},
    )


def switch_row(element_id: str, title: str | rx.Var[str],
               note: str | rx.Var[str] | None = None, *, align: str = "start",
               spacing: str = "3", **switch: Any) -> rx.Component:
    """A switch with its label on the right. With a `note` (even "") the label sits in a
    column, over the note when there is one."""
    text = rx.text(title, as_="label", html_for=element_id, size="2", weight="medium")
    return rx.hstack(
        rx.switch(id=element_id, **switch),
        text if note is None else rx.vstack(
            text, *([rx.text(note, size="1", color_scheme="gray")] if note else []), spacing="0"),
        align=align, spacing=spacing,
    )


def form_card(title: str | rx.Var[str], *children: rx.Component, on_submit: Any,
              card: dict[str, Any] | None = None, stack: dict[str, Any] | None = None,
              **form_props: Any) -> rx.Component:
    """A card holding one form: a heading over `children`. `stack` styles the column,
    `card` the card, `form_props` the form (reset_on_submit…)."""
    column = rx.vstack(rx.heading(title, size="3"), *children, **{"spacing": "3", **(stack or {})})
    return rx.card(rx.form(column, on_submit=on_submit, **form_props),
                   **{"width": "100%", **(card or {})})
