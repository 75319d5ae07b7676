"""The root address: a spinner while the session decides where to go (dashboard or sign-in)."""

from __future__ import annotations

import reflex as rx

from replyx_app.pages.registry import bare_page
from state.session import SessionState


@bare_page("/", "ReplyX", on_load=[SessionState.redirect_home])
def index() -> rx.Component:
    return rx.center(rx.spinner(size="3"), min_height="100vh")
