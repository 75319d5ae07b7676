"""Chat bubbles shared by the widget and the operator console. Text only: message content
is rendered as text nodes, never as HTML or Markdown, so nothing a visitor or a document
writes can inject markup."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import reflex as rx


def sources_block(m: Any, label: str | rx.Var[str]) -> rx.Component:
    return rx.cond(
        m.sources.length() > 0,
        rx.el.details(
            rx.el.summary(rx.text(label, size="1", color=rx.color("gray", 11), as_="span"),
                          cursor="pointer"),
            rx.vstack(
                rx.foreach(
                    m.sources,
                    lambda s: rx.box(
                        rx.text(s.title, size="1", weight="bold"),
                        rx.text(s.passage, size="1", color=rx.color("gray", 11),
                                white_space="pre-wrap"),
                        border_left=f"2px solid {rx.color('accent', 6)}",
                        padding_left="0.5rem",
                    ),
                ),
                spacing="2",
                padding_top="0.25rem",
            ),
            class_name="message-sources",
        ),
    )


def message_bubble(m: Any, *, mine: str, sources_label: str | rx.Var[str] = "Sources",
                   show_confidence: bool = False,
                   extra: Callable[[Any], rx.Component] | None = None) -> rx.Component:
    """One message. `mine` is the sender drawn on the right ("visitor" in the widget,
    "operator" in the console); `extra(m)` is drawn under the text (the console's actions)."""
    right = m.sender == mine
    system = m.sender == "system"
    bubble = rx.box(
        rx.cond(
            (m.author != "") & ~right,
            rx.text(m.author, size="1", weight="bold", color=rx.color("gray", 11)),
        ),
        rx.text(m.content, size="2", white_space="pre-wrap", class_name="message-text",
                word_break="break-word"),
        rx.cond(m.sender == "ai", sources_block(m, sources_label)),
        *([rx.cond(
            m.confidence != "",
            rx.badge(rx.text("confidence ", m.confidence), size="1",
                     color_scheme=rx.cond(m.low, "red", "gray"), variant="soft"),
        )] if show_confidence else []),
        *([extra(m)] if extra is not None else []),
        background=rx.match(
            m.sender,
            ("visitor", rx.cond(right, rx.color("accent", 9), rx.color("accent", 3))),
            ("operator", rx.cond(right, rx.color("accent", 9), rx.color("green", 3))),
            ("note", rx.color("amber", 3)),
            rx.color("gray", 3),
        ),
        color=rx.cond(right, "white", rx.color("gray", 12)),
        padding="0.5rem 0.75rem",
        border_radius="var(--radius-4)",
        max_width="85%",
    )
    return rx.cond(
        system,
        rx.text(m.content, size="1", color=rx.color("gray", 11), align="center", width="100%",
                class_name="message-system", white_space="pre-wrap"),
        rx.hstack(
            bubble,
            justify=rx.cond(right, "end", "start"),
            width="100%",
            class_name=rx.match(m.sender, ("visitor", "message message-visitor"),
                                ("operator", "message message-operator"),
                                ("note", "message message-note"),
                                ("ai", "message message-ai"), "message"),
            data_message_id=m.id.to(str),
        ),
    )


def typing_dots(text: str | rx.Var[str]) -> rx.Component:
    return rx.hstack(
        rx.spinner(size="1"),
        rx.text(text, size="1", color=rx.color("gray", 11)),
        spacing="2", align="center", class_name="typing-indicator",
    )
