"""Platform admin: the audit log of the whole platform."""

from __future__ import annotations

import reflex as rx

from components.audit_log import audit_viewer
from replyx_app.pages.registry import Nav, dashboard_page
from state.audit_log import AdminAuditState


@dashboard_page(
    "/admin/audit", "Audit log", role="platform_admin", on_load=[AdminAuditState.load],
    nav=Nav("Platform audit log", "scroll_text", 158),
)
def admin_audit_page() -> rx.Component:
    return audit_viewer(AdminAuditState, csv_url="/api/admin/audit.csv", with_workspace=True)
