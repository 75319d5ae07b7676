"""Platform admin panel: accounts and address bans (the audit log is /admin/audit)."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import action_button, toggle_button
from components.panels import data_table
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin import AdminState


def _user_row(u: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(u["email"], weight="medium"),
                                rx.text(u["name"], size="1", color_scheme="gray"), spacing="0")),
        rx.table.cell(rx.text(u["workspaces"], size="1")),
        rx.table.cell(rx.vstack(rx.text(u["created"], size="1"),
                                rx.cond(u["last_login"] != "",
                                        rx.text("last in ", u["last_login"], size="1",
                                                color_scheme="gray")),
                                spacing="0")),
        rx.table.cell(rx.hstack(
            rx.cond(u["confirmed"], rx.fragment(), rx.badge("unconfirmed", color_scheme="amber")),
            rx.cond(u["platform_admin"], rx.badge("platform admin")),
            rx.cond(u["blocked"], rx.badge("blocked", color_scheme="red")),
            spacing="1", wrap="wrap")),
        rx.table.cell(rx.hstack(
            toggle_button(u["platform_admin"],
                          ("Revoke admin", AdminState.set_platform_admin(u["id"], False)),
                          ("Make admin", AdminState.set_platform_admin(u["id"], True))),
            toggle_button(u["blocked"],
                          ("Unblock", AdminState.set_blocked(u["id"], False)),
                          ("Block", AdminState.set_blocked(u["id"], True)),
                          color_scheme="red"),
            spacing="2")),
        class_name="admin-user-row",
    )


def _ban_row(b: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.code(b["address"])),
        rx.table.cell(rx.vstack(rx.text(b["reason"]),
                                rx.text(b["counts"], size="1", color_scheme="gray"),
                                spacing="0")),
        rx.table.cell(b["failures"]),
        rx.table.cell(b["until"]),
        rx.table.cell(action_button(None, "Lift ban", AdminState.lift_ban(b["address"]))),
        class_name="admin-ban-row",
    )


def _bans_tab() -> rx.Component:
    return rx.vstack(
        rx.text("Addresses that kept failing (sign-ins, widget origin checks, Telegram "
                "webhook secrets) are refused for a while. Lifting a ban lets the address in "
                "at once and resets its counts.", size="2", color_scheme="gray"),
        rx.cond(
            AdminState.bans.length() > 0,
            data_table(("Address", "Reason", "Failures", "Until", ""), AdminState.bans, _ban_row),
            rx.text("No address is banned.", id="no-bans"),
        ),
        spacing="3", padding_top="1rem",
    )


@dashboard_page(
    "/admin", "Accounts", role="platform_admin", on_load=[AdminState.load],
    nav=Nav("Accounts", "shield", 140),
)
def admin_page() -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(rx.tabs.trigger("Accounts", value="users"),
                     rx.tabs.trigger("Address bans", value="bans")),
        rx.tabs.content(
            rx.vstack(
                rx.form(rx.hstack(rx.input(name="q", placeholder="Search by e-mail or name"),
                                  rx.button("Search", type="submit")),
                        on_submit=AdminState.search),
                data_table(("Account", "Workspaces", "Created", "", ""),
                           AdminState.users, _user_row),
                spacing="3", padding_top="1rem",
            ),
            value="users",
        ),
        rx.tabs.content(_bans_tab(), value="bans"),
        default_value="users",
        width="100%",
    )
