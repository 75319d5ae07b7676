"""Billing in a real browser: a platform admin sets the prices and credits a workspace with
a reason; that workspace's owner sees the balance, what it buys and the ledger, pages
through it and downloads the same entries as CSV. A tenant's crafted events reach neither
the admin's handlers nor another role's money."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from backend_services.billing import ledger
from backend_services.billing.ledger import Kind
from backend_services.conversations import dialogs
from backend_services.conversations.actors import contact_actor
from backend_services.core.db import session_scope
from backend_services.models import Role
from state.admin_billing import AdminBillingState
from state.billing import BillingState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    at,
    create_assistant,
    make_platform_admin,
    make_workspace_owner,
    save_profile,
    sign_in,
)
from tests.support.balances import balance

ADJUST = AdminBillingState.get_full_name() + ".adjust"
EXPORT = BillingState.get_full_name() + ".export"


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-billing-{name}.png", full_page=True)



async def test_an_admin_prices_and_credits_and_the_owner_sees_it_traced_to_the_ledger(
    clean: None, new_context: Any
) -> None:
    admin_email, _ = await make_workspace_owner("root")
    await make_platform_admin(admin_email)
    owner_email, tenant = await make_workspace_owner("tenant")

    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, admin_email)
    await page.goto("/admin/billing")
    await page.fill("input[name=answer_flat]", "0.25")
    await page.fill("input[name=page]", "0.04")
    await page.fill("input[name=low_balance]", "1")
    await page.click("#sheet-save")
    await expect(page.get_by_text("Prices saved: they apply now.")).to_be_visible()
    row = page.locator(".tariff-row")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("in force")
    await expect(row).to_contain_text("0.25 USD")

    await page.fill("input[name=model]", "gpt-4o-mini")
    await page.fill("input[name=input]", "0.15")
    await page.fill("input[name=output]", "abc")
    await page.click("#model-save")
    await expect(page.locator("#model-error")).to_contain_text("must be a number")
    await page.fill("input[name=output]", "0.60")
    await page.click("#model-save")
    model = page.locator(".model-price-row")
    await expect(model).to_have_count(1)
    await expect(model).to_contain_text("0.15 USD")
    await expect(model).to_contain_text("0.60 USD")

    # With prices set and nothing on the balance, the tenant's overview says so.
    owner_page = await (await new_context()).new_page()
    await sign_in(owner_page, owner_email)
    await expect(owner_page.locator("#balance-banner")).to_contain_text(
        "the AI has stopped answering", timeout=60_000)

    await page.fill("input[name=workspace_id]", str(tenant))
    await page.fill("input[name=amount]", "10")
    await page.fill("input[name=reason]", "x")
    await page.click("#adjust-save")
    await expect(page.locator("#adjust-error")).to_contain_text("Write why")
    assert await balance(tenant) == 0
    await page.fill("input[name=workspace_id]", str(tenant))
    await page.fill("input[name=amount]", "10")
    await page.fill("input[name=reason]", "Compensation for the outage")
    await page.click("#adjust-save")
    await expect(page.get_by_text(f"Balance of workspace {tenant} is now 10.00 USD.")
                 ).to_be_visible()
    await _snap(page, "admin")
    assert await balance(tenant) == 1_000

    # Some spending, the newest for a visitor's dialog.
    assistant_id = await create_assistant(tenant, "Shop bot")
    visitor = await contact_actor(tenant, assistant_id, "widget", "v-1")
    dialog = await dialogs.open_dialog(visitor)
    for i in range(30):
        async with session_scope() as session:
            await ledger.post(session, tenant, -1, Kind.ANSWER, f"a{i}",
                              reference="widget answer",
                              dialog_id=dialog.id if i == 29 else None)

    page = owner_page
    await page.emulate_media(color_scheme="dark")
    await page.goto("/billing")
    await expect(page.locator("#billing-balance")).to_have_text("9.70 USD", timeout=60_000)
    await expect(page.get_by_text("about 38 AI answers")).to_be_visible()
    await expect(page.get_by_text("about 242 indexed pages")).to_be_visible()
    await expect(page.locator(".ledger-row")).to_have_count(25)
    link = page.locator(".ledger-row").first.locator(".ledger-dialog")
    await expect(link).to_have_text(f"widget answer · dialog #{dialog.id}")
    await expect(link).to_have_attribute("href", f"/console?d={dialog.id}")
    await expect(page.locator("#ledger-pages")).to_have_text("31 entries · page 1 of 2")
    await _snap(page, "tenant")
    await page.click("#ledger-next")
    await expect(page.locator(".ledger-row")).to_have_count(6)
    last = page.locator(".ledger-row").last
    await expect(last).to_contain_text("Adjustment")
    await expect(last).to_contain_text("Compensation for the outage")
    await expect(last).to_contain_text("10.00 USD")

    # The CSV holds the same entries as the page, with the same amounts.
    async with page.expect_download() as info:
        await page.click("#ledger-export")
    download = await info.value
    rows = list(csv.reader(io.StringIO(Path(await download.path()).read_text())))
    assert len(rows) == 32 and rows[-1][2:7] == ["adjustment", "10.00", "10.00", "USD",
                                                 "Compensation for the outage"]
    assert {r[3] for r in rows[1:31]} == {"-0.01"}

    # Filtered to adjustments only.
    await page.locator("button[aria-label='Kind of entry']").click()
    await page.get_by_role("option", name="Adjustment").click()
    await page.click("#ledger-apply")
    await expect(page.locator(".ledger-row")).to_have_count(1)
    await expect(page.locator("#ledger-pages")).to_have_text("1 entries · page 1 of 1")


async def test_a_tenant_cannot_credit_itself_and_an_operator_sees_no_money(
    clean: None, new_context: Any
) -> None:
    owner_email, workspace_id = await make_workspace_owner("greedy")
    operator = await add_member(workspace_id, Role.OPERATOR, "operator")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, owner_email)
    await page.goto("/billing")
    await expect(page.locator("#billing-balance")).to_have_text("0.00 USD", timeout=60_000)
    await page.click("#ledger-apply")  # a real event, to copy the wire format from
    for _ in range(400):
        if any(e["name"].endswith(".filter") for e in tap.sent_events()):
            break
        await asyncio.sleep(0.05)  # poll: the click's event reaches the socket
    real = tap.real_event_frame("filter")
    mark = tap.send(tap.craft(real, ADJUST, {"form": {
        "workspace_id": str(workspace_id), "amount": "1000", "reason": "free money please"}}))
    await tap.wait_for_reply("Only platform administrators", after=mark)
    assert await balance(workspace_id) == 0
    await page.goto("/admin/billing")
    await page.wait_for_url(at("/dashboard"))

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)
    await page.goto("/billing")
    await page.wait_for_url(at("/dashboard"))
    await page.goto("/settings")
    await expect(page.locator("#name")).to_have_value("Operator")
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    real = tap.real_event_frame("save_profile")
    mark = tap.send(tap.craft(real, EXPORT, {}))
    await tap.wait_for_reply("needs the admin role", after=mark)
    assert not [f for f in tap.server_frames if "replyx-ledger.csv" in f]
