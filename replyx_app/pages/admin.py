"""Platform admin panel: accounts, address bans and the audit log."""

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
        rx.table.cell(rx.cond(u["confirmed"], "yes", "no")),
        rx.table.cell(rx.cond(u["platform_admin"], rx.badge("platform admin"), "")),
        rx.table.cell(u["created"]),
        rx.table.cell(toggle_button(u["blocked"],
                                    ("Unblock", AdminState.set_blocked(u["id"], False)),
                                    ("Block", AdminState.set_blocked(u["id"], True)),
                                    color_scheme="red")),
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


def _audit_row(a: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(*[rx.table.cell(a[k]) for k in
                          ("at", "action", "actor", "workspace", "target", "ip")])


@dashboard_page(
    "/admin", "Platform admin", role="platform_admin", on_load=[AdminState.load],
    nav=Nav("Admin", "shield", 140),
)
def admin_page() -> rx.Component:
    return rx.tabs.root(
        rx.tabs.list(rx.tabs.trigger("Accounts", value="users"),
                     rx.tabs.trigger("Address bans", value="bans"),
                     rx.tabs.trigger("Audit log", value="audit")),
        rx.tabs.content(
            rx.vstack(
                rx.form(rx.hstack(rx.input(name="q", placeholder="Search by e-mail"),
                                  rx.button("Search", type="submit")),
                        on_submit=AdminState.search),
                data_table(("Account", "Confirmed", "", "Created", ""),
                           AdminState.users, _user_row),
                spacing="3", padding_top="1rem",
            ),
            value="users",
        ),
        rx.tabs.content(_bans_tab(), value="bans"),
        rx.tabs.content(
            data_table(("When", "Action", "Actor", "Workspace", "Target", "IP"),
                       AdminState.audit, _audit_row, size="1"),
            value="audit", padding_top="1rem",
        ),
        default_value="users",
        width="100%",
    )
