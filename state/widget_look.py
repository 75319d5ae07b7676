"""How a widget looks, as both the chat itself and the Widget tab's preview show it."""

from __future__ import annotations

from typing import Any

import reflex as rx


class WidgetLook(rx.State, mixin=True):
    """A mixin (each state keeps its own copy): the chat shows the widget's saved look, the
    Widget tab the draft being edited."""

    title: rx.Field[str] = rx.field("")
    greeting: rx.Field[str] = rx.field("")
    avatar_url: rx.Field[str] = rx.field("")
    language: rx.Field[str] = rx.field("en")

    def _show_look(self, look: Any) -> None:
        """Take the look of `look` (a widget's settings or its public configuration)."""
        self.title, self.greeting = look.title, look.greeting
        self.avatar_url, self.language = look.avatar_url, look.language
