"""The workspace's own audit log, for its owners: who signed in, changed settings, invited
or removed whom, and what the platform's staff did to the workspace."""

from __future__ import annotations

import reflex as rx

from components.audit_log import audit_viewer
from replyx_app.pages.registry import Nav, dashboard_page
from state.audit_log import WorkspaceAuditState


@dashboard_page(
    "/audit-log", "Audit log", role="owner", on_load=[WorkspaceAuditState.load],
    nav=Nav("Audit log", "scroll_text", 125),
)
def audit_log_page() -> rx.Component:
    return rx.vstack(
        rx.text("Everything done in this workspace, newest first. Only owners see this page.",
                color_scheme="gray"),
        audit_viewer(WorkspaceAuditState, csv_url="/api/workspace/audit.csv",
                     with_workspace=False),
        spacing="4", width="100%",
    )
