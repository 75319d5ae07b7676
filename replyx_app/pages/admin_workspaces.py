"""Platform admin: every workspace, its members and assistants, blocking one."""

from __future__ import annotations

from typing import Any

import reflex as rx
from reflex.vars import ObjectVar

from components.dialogs import dialog_buttons, editor_dialog
from components.forms import labelled
from components.panels import data_table, empty_state, hint, loaded_list
from replyx_app.pages.registry import Nav, dashboard_page
from state.admin_workspaces import AdminWorkspacesState as S


def _status(w: Any) -> rx.Component:
    return rx.cond(
        w["blocked"], rx.badge("blocked", color_scheme="red"),
        rx.cond(w["deleting"], rx.badge("deletion scheduled", color_scheme="amber"),
                rx.badge("active", color_scheme="green")))


def _row(w: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.vstack(
            rx.text(w["name"], weight="medium"),
            rx.text("#", w["id"], " · since ", w["created"],
                    rx.cond(w["is_demo"], " · demo", ""), size="1", color_scheme="gray"),
            spacing="0")),
        rx.table.cell(w["members"]),
        rx.table.cell(w["assistants"]),
        rx.table.cell(w["dialogs_30d"], " / ", w["messages_30d"]),
        rx.table.cell(w["balance"]),
        rx.table.cell(_status(w)),
        rx.table.cell(rx.button("Open", size="1", variant="soft",
                                on_click=S.open_workspace(w["id"]),
                                class_name="admin-ws-open")),
        class_name="admin-ws-row",
    )


def _member(m: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(rx.table.cell(rx.vstack(rx.text(m["email"]),
                                                rx.text(m["name"], size="1", color_scheme="gray"),
                                                spacing="0")),
                        rx.table.cell(m["role"]), rx.table.cell(m["joined"]))


def _assistant(a: ObjectVar[dict[str, Any]]) -> rx.Component:
    return rx.table.row(rx.table.cell(a["name"]), rx.table.cell(rx.code(a["model"])),
                        rx.table.cell(rx.cond(a["active"], "on", "off")),
                        rx.table.cell(a["dialogs_30d"]))


def _block_dialog() -> rx.Component:
    return editor_dialog(
        "Block this workspace",
        rx.form(
            rx.vstack(
                hint("Its members can no longer enter it, its widget stops showing and its "
                     "Telegram bots stop. Nothing is deleted; unblocking restores all of it."),
                labelled("Reason (members see it)", "block-reason",
                         rx.text_area(name="reason", id="block-reason", required=True,
                                      max_length=300, width="100%")),
                dialog_buttons("Block", "block-confirm"),
                spacing="3",
            ),
            on_submit=S.block,
        ),
        open=S.block_open, on_open_change=S.set_block_open, max_width="32rem",
    )


def _detail() -> rx.Component:
    d = S.detail
    return editor_dialog(
        [d["name"], " ", rx.text.span("#", d["id"], color_scheme="gray")],
        rx.vstack(
            rx.hstack(_status(d), rx.text("Balance ", d["balance"], size="2"),
                      rx.text(d["bots"], " Telegram bot(s)", size="2"), spacing="4",
                      wrap="wrap"),
            rx.cond(d["blocked"], rx.callout(rx.text("Blocked: ", d["blocked_reason"]),
                                             color_scheme="red", icon="ban", width="100%",
                                             id="ws-blocked-reason")),
            rx.heading("Members", size="2"),
            data_table(("Account", "Role", "Joined"), S.members, _member, size="1"),
            rx.heading("Assistants", size="2"),
            rx.cond(S.assistants.length() > 0,
                    data_table(("Name", "Model", "Active", "Dialogs 30 d"), S.assistants,
                               _assistant, size="1"),
                    hint("No assistant yet.")),
            rx.form(
                rx.hstack(
                    labelled("Knowledge storage quota, MB", "quota-mb",
                             rx.input(name="quota_mb", id="quota-mb", type="number", min=1,
                                      default_value=d["storage_quota_mb"].to_string(),
                                      key=d["id"].to_string()),
                             note=rx.text("In use: ", d["storage_used_mb"], " MB"),
                             width="14rem"),
                    rx.button("Save quota", type="submit", id="quota-save", variant="soft"),
                    align="end", spacing="3",
                ),
                on_submit=S.save_quota,
            ),
            rx.hstack(
                rx.cond(d["blocked"],
                        rx.button("Unblock", on_click=S.unblock, id="ws-unblock",
                                  color_scheme="green"),
                        rx.button("Block…", on_click=S.set_block_open(True), id="ws-block",
                                  color_scheme="red", variant="soft")),
                rx.spacer(),
                rx.button("Close", variant="soft", color_scheme="gray", on_click=S.close_workspace),
                width="100%",
            ),
            spacing="3", width="100%",
        ),
        open=S.open_id != 0,
        on_open_change=lambda _open: S.close_workspace(),
        max_width="48rem",
    )


@dashboard_page(
    "/admin/workspaces", "Workspaces", role="platform_admin", on_load=[S.load],
    nav=Nav("Workspaces", "building_2", 138),
)
def admin_workspaces_page() -> rx.Component:
    return rx.vstack(
        rx.form(rx.hstack(rx.input(name="q", placeholder="Search by name or id",
                                   id="ws-search"),
                          rx.button("Search", type="submit")),
                on_submit=S.search),
        loaded_list(
            S.loaded, S.rows,
            empty_state("building_2", rx.text("No workspace matches.")),
            rx.box(data_table(("Workspace", "Members", "Assistants",
                               "Dialogs / messages, 30 d", "Balance", "Status", ""),
                              S.rows, _row),
                   width="100%", overflow_x="auto"),
        ),
        _detail(),
        _block_dialog(),
        spacing="4", width="100%",
    )
