"""Pickers: the select of the workspace's assistants that several pages share."""

from __future__ import annotations

from typing import Any

import reflex as rx


def assistant_select(options: Any, element_id: Any, *, size: str = "2", name: str | None = None,
                     trigger: dict[str, Any] | None = None, **props: Any) -> rx.Component:
    """A select of `options` (state rows {"id", "name"}); `props` go to the select's root
    (value, on_change, disabled…), `trigger` to its trigger (width, placeholder…)."""
    if name is not None:
        props["name"] = name
    return rx.select.root(
        rx.select.trigger(id=element_id, **(trigger or {})),
        rx.select.content(
            rx.foreach(options, lambda o: rx.select.item(o["name"], value=o["id"]))),
        size=size,
        **props,
    )


def assistant_picker(options: Any, value: Any, on_change: Any, element_id: str, *,
                     as_label: bool = False) -> rx.Component:
    """The "Assistant: [select]" line at the top of an assistant-scoped page."""
    label_props: dict[str, Any] = {"as_": "label", "html_for": element_id} if as_label else {}
    return rx.hstack(
        rx.text("Assistant", size="2", weight="medium", **label_props),
        assistant_select(options, element_id, value=value, on_change=on_change),
        align="center",
    )


def assistant_scoped(options: Any, value: Any, on_change: Any, element_id: str,
                     missing: str, *body: rx.Component, as_label: bool = False) -> rx.Component:
    """An assistant-scoped page: the picker over `body`, or the `missing` note while the
    workspace has no assistant."""
    return rx.cond(
        options.length() == 0,
        rx.callout(missing, icon="info"),
        rx.vstack(assistant_picker(options, value, on_change, element_id, as_label=as_label),
                  *body, spacing="4", width="100%"),
    )
