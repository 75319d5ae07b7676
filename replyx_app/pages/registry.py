"""Every page is declared here through one decorator, which applies the layout and the guard.

No page can forget its role check: `dashboard_page` always puts the matching
SessionState guard first in on_load (the event handlers guard themselves as well).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import reflex as rx

from components.layout import auth_card, dashboard_frame
from state.session import SessionState


@dataclass
class Route:
    path: str
    title: str
    render: Callable[[], rx.Component]
    on_load: list[Any] = field(default_factory=list)


ROUTES: list[Route] = []

_GUARDS = {
    "operator": SessionState.guard_operator,
    "admin": SessionState.guard_admin,
    "owner": SessionState.guard_owner,
    "platform_admin": SessionState.guard_platform_admin,
}


def dashboard_page(
    path: str, title: str, *, role: str = "operator", on_load: list[Any] | None = None
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    def register(body: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        ROUTES.append(
            Route(
                path=path,
                title=f"{title} · ReplyX",
                render=lambda: dashboard_frame(title, path, body()),
                on_load=[_GUARDS[role], *(on_load or [])],
            )
        )
        return body

    return register


def public_page(
    path: str, title: str, *, on_load: list[Any] | None = None
) -> Callable[[Callable[[], list[rx.Component]]], Callable[[], list[rx.Component]]]:
    def register(body: Callable[[], list[rx.Component]]) -> Callable[[], list[rx.Component]]:
        ROUTES.append(
            Route(
                path=path,
                title=f"{title} · ReplyX",
                render=lambda: auth_card(title, *body()),
                on_load=list(on_load or []),
            )
        )
        return body

    return register


def add_all(app: rx.App) -> None:
    for r in ROUTES:
        app.add_page(r.render, route=r.path, title=r.title, on_load=r.on_load or None)
