"""The platform admin panel in the browser: blocking a workspace with a reason (its owner is
out and told why, until unblocked), the audit log viewer with filters and CSV, the owner's
own audit log, and the sign-up mode set in the panel closing the sign-up page. Crafted
events and requests from a tenant reach none of it."""

from __future__ import annotations

import csv
import io
from typing import Any

from playwright.async_api import expect

from state.audit_log import AdminAuditState
from tests.e2e.helpers import (
    SocketTap,
    at,
    make_platform_admin,
    make_workspace_owner,
    sign_in,
    snap,
)

ADMIN_AUDIT = AdminAuditState.get_full_name()


async def test_admin_blocks_a_workspace_and_finds_it_in_the_audit_log(
    clean: None, new_context: Any
) -> None:
    admin_email, _ = await make_workspace_owner("root")
    await make_platform_admin(admin_email)
    owner, _ = await make_workspace_owner("acme")
    admin = await (await new_context()).new_page()
    tenant = await (await new_context()).new_page()
    await sign_in(admin, admin_email)
    await sign_in(tenant, owner)

    await admin.goto("/admin/workspaces")
    row = admin.locator(".admin-ws-row", has_text="acme workspace")
    await expect(row).to_contain_text("active")
    await snap(admin, "admin-workspaces")
    await row.locator(".admin-ws-open").click()
    await expect(admin.get_by_role("dialog")).to_contain_text(owner)
    await admin.click("#ws-block")
    await admin.fill("#block-reason", "Chargebacks under review")
    await admin.click("#block-confirm")
    await expect(admin.get_by_text("its widget and bots stopped")).to_be_visible()
    await expect(admin.locator("#ws-blocked-reason")).to_contain_text("Chargebacks under review")
    await snap(admin, "admin-workspace-blocked")

    # The tenant's next step ends on the sign-in page, and signing in says why.
    await tenant.goto("/settings")
    await tenant.wait_for_url(at("/login"))
    await tenant.fill("#email", owner)
    await tenant.fill("#password", "Correct-horse-9")
    await tenant.click("#login-submit")
    await expect(tenant.get_by_text("Chargebacks under review")).to_be_visible()

    await admin.click("#ws-unblock")
    await expect(admin.get_by_text("Workspace unblocked.")).to_be_visible()
    await sign_in(tenant, owner)

    # The viewer: filtered to the action, names not ids, and the same rows as CSV.
    await admin.goto("/admin/audit")
    await expect(admin.locator(".audit-row").first).to_be_visible()
    await admin.fill("#audit-workspace", "acme")
    await admin.click("#audit-action")
    await admin.get_by_role("option", name="workspace_blocked", exact=True).click()
    await admin.click("#audit-apply")
    rows = admin.locator(".audit-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("acme workspace")
    await expect(rows.first).to_contain_text(admin_email)
    await expect(rows.first).to_contain_text("Chargebacks under review")
    await snap(admin, "admin-audit")
    href = await admin.locator("#audit-csv").get_attribute("href")
    assert href is not None and "action=workspace_blocked" in href
    download = await admin.request.get(href)
    assert download.status == 200
    table = list(csv.reader(io.StringIO(await download.text())))
    assert [r[2] for r in table[1:]] == ["workspace_blocked"]
    assert table[1][4] == "acme workspace"

    # The owner's own log shows the block, by "Platform administrator", not the admin.
    await tenant.goto("/audit-log")
    await expect(tenant.locator(".audit-row", has_text="workspace_blocked")).to_contain_text(
        "Platform administrator")
    await expect(tenant.locator(".audit-row", has_text=admin_email)).to_have_count(0)
    await expect(tenant.locator("#audit-workspace")).to_have_count(0)
    await snap(tenant, "owner-audit")
    own_csv = await tenant.request.get("/api/workspace/audit.csv")
    assert own_csv.status == 200 and admin_email not in await own_csv.text()
    refused = await tenant.request.get("/api/admin/audit.csv")
    assert refused.status == 403


async def test_a_tenant_cannot_reach_the_admin_panel_even_with_crafted_events(
    clean: None, new_context: Any
) -> None:
    owner, _ = await make_workspace_owner("acme")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, owner)
    await page.goto("/admin/workspaces")
    await page.wait_for_url(at("/dashboard"))
    await page.goto("/audit-log")
    await expect(page.locator("#audit-apply")).to_be_visible()
    await page.click("#audit-apply")  # a real event to copy
    real = tap.real_event_frame("apply")
    mark = tap.send(tap.craft(real, f"{ADMIN_AUDIT}.apply", {"form": {}}))
    await tap.wait_for_reply("Only platform administrators can do this.", after=mark)


async def test_the_sign_up_mode_set_in_the_panel_closes_the_sign_up_page(
    clean: None, new_context: Any
) -> None:
    admin_email, _ = await make_workspace_owner("root")
    await make_platform_admin(admin_email)
    admin = await (await new_context()).new_page()
    await sign_in(admin, admin_email)
    await admin.goto("/admin/settings")
    await admin.locator("#signup-invite_only").click()
    await admin.fill("#ws-per-person", "5000")
    await admin.click("#platform-settings-save")
    await expect(admin.get_by_text("between 1 and 1000")).to_be_visible()
    await admin.fill("#ws-per-person", "3")
    await admin.click("#platform-settings-save")
    await expect(admin.get_by_text("Platform settings saved.")).to_be_visible()
    await snap(admin, "admin-settings")

    visitor = await (await new_context()).new_page()
    await visitor.goto("/signup")
    await expect(visitor.locator("#signup-closed")).to_contain_text("invitation only")
    await expect(visitor.locator("#signup-submit")).to_have_count(0)
    await admin.reload()
    await expect(admin.locator("#signup-invite_only")).to_be_checked()
    await expect(admin.locator("#ws-per-person")).to_have_value("3")
