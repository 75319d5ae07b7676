"""Team: members, their roles, invitations."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.actions import action_button
from components.forms import error_callout, form_card
from components.panels import data_table
from replyx_app.pages.registry import Nav, dashboard_page
from state.team import TeamState


def _member_row(m: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(rx.text(m["name"], weight="medium"),
                                rx.text(m["email"], size="1", color_scheme="gray"),
                                spacing="0")),
        rx.table.cell(
            rx.select(["owner", "admin", "operator"], value=m["role"].to(str),
                      on_change=lambda r: TeamState.change_role(m["membership_id"], r),
                      size="1", disabled=m["user_id"] == TeamState.me_id)
        ),
        rx.table.cell(m["joined"]),
        rx.table.cell(rx.cond(
            m["user_id"] != TeamState.me_id,
            action_button(None, "Remove", TeamState.remove(m["membership_id"]),
                          color_scheme="red"),
        )),
        class_name="member-row",
    )


def _invitation_row(i: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(i["email"]),
        rx.table.cell(rx.badge(i["role"])),
        rx.table.cell(i["expires"]),
        rx.table.cell(action_button(None, "Revoke", TeamState.revoke(i["id"]))),
    )


@dashboard_page(
    "/team", "Team", role="admin", on_load=[TeamState.load],
    nav=Nav("Team", "users", 120),
)
def team_page() -> rx.Component:
    invite = rx.hstack(
        rx.input(name="email", id="invite-email", type="email",
                 placeholder="teammate@company.com", required=True, flex="1"),
        rx.select(["operator", "admin"], name="role", default_value="operator"),
        rx.button("Send invitation", type="submit", id="invite-submit"),
        width="100%",
    )
    return rx.vstack(
        form_card("Invite a teammate", error_callout(TeamState.invite_error), invite,
                  on_submit=TeamState.invite, reset_on_submit=True),
        rx.heading("Members", size="4"),
        data_table(("Member", "Role", "Joined", ""), TeamState.members, _member_row),
        rx.cond(
            TeamState.invitations.length() > 0,
            rx.vstack(
                rx.heading("Pending invitations", size="4"),
                data_table(("E-mail", "Role", "Expires", ""),
                           TeamState.invitations, _invitation_row),
                width="100%",
            ),
        ),
        spacing="4", width="100%",
    )
