"""Form pieces: labelled inputs and inline errors, keyboard friendly (Enter submits)."""

from __future__ import annotations

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


def error_callout(message: rx.Var[str]) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle_alert", color_scheme="red", role="alert",
                   width="100%", id="form-error"),
    )


def success_callout(message: str | rx.Var[str], **props: Any) -> rx.Component:
    return rx.callout(message, icon="circle_check", color_scheme="green", width="100%", **props)
