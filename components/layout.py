"""Page frames: the centred card for sign-in pages and the dashboard shell with navigation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import reflex as rx

from components.i18n import language_switch, route_key, t, t_choice
from state.session import SessionState
from state.workspaces import WorkspacesState


@dataclass(frozen=True)
class NavItem:
    """A sidebar link, built by the page registry (replyx_app/pages/registry.py)."""

    label: str
    route: str
    icon: str
    role: str = "operator"  # the least role that may open the page, or "platform_admin"


_RANK = {"operator": 1, "admin": 2, "owner": 3}


def role_at_least(role: str) -> rx.Var[bool]:
    """Whether the signed-in member's role is `role` or above (what to draw; every
    handler checks again on the server)."""
    rank = rx.cond(SessionState.role == "owner", 3, rx.cond(SessionState.role == "admin", 2, 1))
    return rank >= _RANK[role]


def _visible(item: NavItem) -> rx.Var[bool]:
    if item.role == "platform_admin":
        return SessionState.is_platform_admin
    return role_at_least(item.role)


def _nav_link(item: NavItem, current: str) -> rx.Component:
    active = item.route == current
    return rx.cond(
        _visible(item),
        rx.link(
            rx.hstack(rx.icon(item.icon, size=18),
                      rx.text(t(f"nav.{route_key(item.route)}"), size="2"), spacing="3",
                      align="center"),
            href=item.route,
            underline="none",
            color=rx.cond(active, rx.color("accent", 11), rx.color("gray", 12)),
            background=rx.cond(active, rx.color("accent", 3), "transparent"),
            padding_x="0.75rem",
            padding_y="0.5rem",
            border_radius="var(--radius-3)",
            width="100%",
            _hover={"background": rx.color("gray", 3)},
            aria_current=rx.cond(active, "page", "false"),
        ),
    )


def _logo(size: str) -> rx.Component:
    return rx.hstack(rx.icon("message_circle_reply", size=24, color=rx.color("accent", 10)),
                     rx.text("ReplyX", size=size, weight="bold"), spacing="2", align="center")


def sidebar(current: str, items: list[NavItem]) -> rx.Component:
    return rx.el.nav(
        rx.vstack(
            rx.box(_logo("5"), padding_x="0.75rem", padding_bottom="1rem"),
            # Links appear once the session is known: before that the role is the default,
            # and an admin would see an operator's menu flash by.
            rx.cond(SessionState.signed_in, rx.fragment(
                *[_nav_link(item, current) for item in items
                  if item.role != "platform_admin"],
                rx.cond(SessionState.is_platform_admin, rx.text(
                    t("layout.platform"), size="1", weight="bold", color_scheme="gray",
                    padding_x="0.75rem", padding_top="0.75rem", text_transform="uppercase")),
                *[_nav_link(item, current) for item in items
                  if item.role == "platform_admin"])),
            spacing="1",
            padding="1rem",
            width="100%",
        ),
        aria_label=t("layout.main_menu"),
        style={
            "width": "15rem",
            "min_width": "15rem",
            "height": "100vh",
            "position": "sticky",
            "top": "0",
            "overflow_y": "auto",
            "border_right": f"1px solid {rx.color('gray', 5)}",
            "background": rx.color("gray", 2),
        },
    )


def _workspace_item(w: Any) -> rx.Component:
    return rx.menu.item(
        rx.hstack(rx.cond(w[3] == "1", rx.icon("check", size=14), rx.box(width="14px")),
                  rx.text(w[1]), rx.text(t_choice("role", w[2]), size="1", color_scheme="gray"),
                  spacing="2", align="center"),
        on_click=WorkspacesState.switch(w[0]), disabled=w[3] == "1",
        class_name="workspace-choice")


def _new_workspace_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(t("layout.new_workspace_title")),
            rx.dialog.description(t("layout.new_workspace_note"), size="2"),
            rx.form(
                rx.vstack(
                    rx.input(name="workspace_name", placeholder=t("layout.workspace_name"),
                             required=True, max_length=120, auto_focus=True,
                             id="new-workspace-name", width="100%"),
                    rx.hstack(
                        rx.dialog.close(rx.button(t("layout.cancel"), type="button",
                                                  variant="soft", color_scheme="gray")),
                        rx.button(t("layout.create_workspace"), type="submit",
                                  id="new-workspace-create"),
                        justify="end", width="100%"),
                    spacing="3"),
                on_submit=WorkspacesState.create, reset_on_submit=False),
            max_width="28rem"),
        open=WorkspacesState.creating, on_open_change=WorkspacesState.set_creating)


def workspace_menu() -> rx.Component:
    """The workspace this session is in; the person's others to switch to; a new one."""
    return rx.fragment(
        rx.menu.root(
            rx.menu.trigger(rx.button(rx.icon("building_2", size=16),
                                      SessionState.workspace_name,
                                      rx.icon("chevron_down", size=14), variant="soft",
                                      size="2", id="workspace-menu",
                                      aria_label=t("layout.workspace"))),
            rx.menu.content(
                rx.foreach(SessionState.workspace_choices, _workspace_item),
                rx.menu.separator(),
                rx.menu.item(rx.hstack(rx.icon("plus", size=14),
                                       rx.text(t("layout.new_workspace")),
                                       spacing="2", align="center"),
                             on_click=WorkspacesState.set_creating(True),
                             id="workspace-new"),
            ),
        ),
        _new_workspace_dialog(),
    )


def topbar(route: str) -> rx.Component:
    return rx.hstack(
        rx.heading(t(f"page.{route_key(route)}"), size="6", as_="h1", id="page-title"),
        rx.spacer(),
        workspace_menu(),
        language_switch(variant="ghost"),
        rx.color_mode.button(variant="ghost", aria_label=t("layout.theme")),
        rx.menu.root(
            rx.menu.trigger(
                rx.button(rx.icon("circle_user", size=18), SessionState.user_name,
                          variant="ghost", id="user-menu")
            ),
            rx.menu.content(
                rx.menu.item(rx.text(SessionState.user_email, size="1", color_scheme="gray"),
                             disabled=True),
                rx.menu.item(rx.text(t("layout.role",
                                       role=t_choice("role", SessionState.role)), size="1"),
                             disabled=True),
                rx.menu.separator(),
                rx.menu.item(t("layout.settings"), on_click=rx.redirect("/settings")),
                rx.menu.item(t("layout.logout"), on_click=SessionState.logout, id="logout",
                             color="red"),
            ),
        ),
        width="100%",
        align="center",
        padding_y="1rem",
        spacing="3",
    )


def dashboard_frame(route: str, body: rx.Component, nav: list[NavItem]) -> rx.Component:
    return rx.hstack(
        sidebar(route, nav),
        rx.el.main(
            topbar(route),
            rx.cond(
                SessionState.signed_in,
                body,
                rx.center(rx.spinner(size="3"), padding="4rem"),
            ),
            style={"flex": "1", "padding": "0 2rem 2rem", "min_width": "0"},
        ),
        spacing="0",
        align="start",
        width="100%",
    )


def auth_card(route: str, *children: rx.Component) -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                _logo("6"),
                rx.heading(t(f"page.{route_key(route)}"), size="5", as_="h1",
                           id="page-title"),
                *children,
                spacing="4",
                width="100%",
            ),
            size="4",
            width="100%",
            max_width="26rem",
        ),
        rx.hstack(language_switch(variant="ghost"),
                  rx.color_mode.button(variant="ghost", aria_label=t("layout.theme")),
                  position="fixed", top="1rem", right="1rem", spacing="2", align="center"),
        min_height="100vh",
        padding="1rem",
        background=rx.color("gray", 2),
    )
