"""Form pieces: labelled inputs and inline errors, keyboard friendly (Enter submits)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import reflex as rx


def field(label: str, name: str, *, type: str = "text", **props: Any) -> rx.Component:
    element_id = props.pop("id", name)
    return rx.vstack(
        rx.text(label, as_="label", html_for=element_id, size="2", weight="medium"),
        rx.input(name=name, id=element_id, type=type, width="100%", size="3", **props),
        spacing="1",
        width="100%",
    )


def textarea_field(label: str, name: str, **props: Any) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", html_for=name, size="2", weight="medium"),
        rx.text_area(name=name, id=name, width="100%", **props),
        spacing="1",
        width="100%",
    )


def error_callout(message: rx.Var[str], id: str = "form-error") -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert",
                   width="100%", id=id),
    )


def success_callout(message: str | rx.Var[str], **props: Any) -> rx.Component:
    return rx.callout(message, icon="circle_check", color_scheme="green", width="100%", **props)


def select_field(label: str, name: str, items: Iterable[tuple[str, str]],
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
