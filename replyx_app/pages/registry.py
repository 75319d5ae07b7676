"""The single source of routes, role guards and navigation: every page registers here.

`dashboard_page` applies the dashboard layout and always puts the matching SessionState
guard first in on_load (the event handlers guard themselves as well), so no page can
forget it; its `nav` entry puts it in the sidebar, which is built from this registry and
shows an entry only to roles the page admits. `public_page` is for the sign-in pages,
`bare_page` for pages with their own frame (the widget, the root redirect).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import reflex as rx

from components.layout import NavItem, auth_card, dashboard_frame
from state.language import LanguageState
from state.session import SessionState

PageRole = Literal["operator", "admin", "owner", "platform_admin"]

_GUARDS: dict[PageRole, Any] = {
    "operator": SessionState.guard_operator,
    "admin": SessionState.guard_admin,
    "owner": SessionState.guard_owner,
    "platform_admin": SessionState.guard_platform_admin,
}


@dataclass(frozen=True)
class Nav:
    """A sidebar entry; entries are listed by `order`."""

    label: str
    icon: str
    order: int


@dataclass
class Route:
    path: str
    title: str
    render: Callable[[], rx.Component]
    on_load: list[Any] = field(default_factory=list)
    role: PageRole | None = None  # None: anyone may open it
    nav: Nav | None = None


ROUTES: list[Route] = []


def _add(route: Route) -> None:
    if any(r.path == route.path for r in ROUTES):
        raise ValueError(f"route {route.path} is registered twice")
    ROUTES.append(route)


def nav_items() -> list[NavItem]:
    """The sidebar, from the registered pages (read when pages render, after all registered)."""
    entries = sorted((r for r in ROUTES if r.nav is not None), key=lambda r: r.nav.order)  # type: ignore[union-attr]
    return [
        NavItem(r.nav.label, r.path, r.nav.icon, r.role or "operator")  # type: ignore[union-attr]
        for r in entries
    ]


def dashboard_page(
    path: str,
    title: str,
    *,
    role: PageRole = "operator",
    on_load: list[Any] | None = None,
    nav: Nav | None = None,
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    def register(body: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        _add(
            Route(
                path=path,
                title=f"{title} · ReplyX",
                render=lambda: dashboard_frame(path, body(), nav_items()),
                on_load=[_GUARDS[role], *(on_load or [])],
                role=role,
                nav=nav,
            )
        )
        return body

    return register


def public_page(
    path: str, title: str, *, on_load: list[Any] | None = None
) -> Callable[[Callable[[], list[rx.Component]]], Callable[[], list[rx.Component]]]:
    def register(body: Callable[[], list[rx.Component]]) -> Callable[[], list[rx.Component]]:
        _add(
            Route(
                path=path,
                title=f"{title} · ReplyX",
                render=lambda: auth_card(path, *body()),
                # The visitor's language: an earlier choice, else the browser's.
                on_load=[LanguageState.detect, *(on_load or [])],
            )
        )
        return body

    return register


def bare_page(
    path: str, title: str, *, on_load: list[Any] | None = None
) -> Callable[[Callable[[], rx.Component]], Callable[[], rx.Component]]:
    def register(body: Callable[[], rx.Component]) -> Callable[[], rx.Component]:
        _add(Route(path=path, title=title, render=body, on_load=list(on_load or [])))
        return body

    return register


def add_all(app: rx.App) -> None:
    for r in ROUTES:
        app.add_page(r.render, route=r.path, title=r.title, on_load=r.on_load or None)
