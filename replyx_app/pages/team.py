"""Team: members, their roles, invitations."""

from __future__ import annotations

import reflex as rx

from components.forms import error_callout
from components.panels import data_table
from replyx_app.pages.registry import Nav, dashboard_page
from state.team import TeamState


def _member_row(m: rx.Var) -> rx.Component:  # type: ignore[type-arg]
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
            rx.button("Remove", size="1", variant="soft", color_scheme="red",
                      on_click=TeamState.remove(m["membership_id"])),
        )),
        class_name="member-row",
    )


def _invitation_row(i: rx.Var) -> rx.Component:  # type: ignore[type-arg]
    return rx.table.row(
        rx.table.cell(i["email"]),
        rx.table.cell(rx.badge(i["role"])),
        rx.table.cell(i["expires"]),
        rx.table.cell(rx.button("Revoke", size="1", variant="soft",
                                on_click=TeamState.revoke(i["id"]))),
    )


@dashboard_page(
    "/team", "Team", role="admin", on_load=[TeamState.load],
    nav=Nav("Team", "users", 120),
)
def team_page() -> rx.Component:
    return rx.vstack(
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("Invite a teammate", size="3"),
                    error_callout(TeamState.invite_error),
                    rx.hstack(
                        rx.input(name="email", id="invite-email", type="email",
                                 placeholder="teammate@company.com", required=True, flex="1"),
                        rx.select(["operator", "admin"], name="role", default_value="operator"),
                        rx.button("Send invitation", type="submit", id="invite-submit"),
                        width="100%",
                    ),
                    spacing="3",
                ),
                on_submit=TeamState.invite,
                reset_on_submit=True,
            ),
            width="100%",
        ),
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
