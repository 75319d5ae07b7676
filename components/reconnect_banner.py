"""Our "Reconnecting…" notice, in place of Reflex's connection toast and pulser.

Reflex 0.10.1's default overlay (reflex/app.py `default_overlay_component`, the
`(5, "Overlay")` app wrap; components in reflex_components_core/core/banner.py) shows a
developer toast "Cannot connect to server … Check if server is reachable at ws://…".
The widget says it with its own (per-widget, translatable) `connection_lost` string;
other pages in the browser's language (ru/en).
"""

from __future__ import annotations

import reflex as rx
from reflex_components_core.core.banner import has_connection_errors

from state.widget_chat import WidgetChatState as W

TEXTS = {
    "en": "Connection lost. Reconnecting…",
    "ru": "Связь потеряна. Переподключаемся…",
}

_BROWSER_RU = rx.Var(
    "((typeof navigator !== 'undefined') && "
    "(navigator.language || '').toLowerCase().startsWith('ru'))"
).to(bool)


def reconnecting_text() -> rx.Var[str]:
    fallback = rx.cond(W.language == "ru", TEXTS["ru"], TEXTS["en"])
    page_text = rx.cond(_BROWSER_RU, TEXTS["ru"], TEXTS["en"])
    return rx.cond(W.s.length() > 0, W.s.get("connection_lost", fallback).to(str),
                   page_text).to(str)


def reconnect_banner() -> rx.Component:
    return rx.cond(
        has_connection_errors,
        rx.el.div(
            rx.spinner(size="1"),
            rx.el.span(reconnecting_text()),
            id="replyx-reconnecting",
            role="status",
            aria_live="polite",
            position="fixed",
            top="8px",
            left="50%",
            transform="translateX(-50%)",
            z_index="9999",
            display="flex",
            gap="8px",
            align_items="center",
            padding="6px 12px",
            border_radius="999px",
            background="rgba(40, 40, 48, 0.88)",
            color="white",
            font_size="13px",
        ),
    )
