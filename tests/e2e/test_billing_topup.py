"""Topping up in a real browser through the gateways' emulators: the owner chooses an
amount, pays on the gateway's page, comes back to a page that shows the payment pending
and then paid as the gateway confirms, with the new balance, and a receipt. A declined
card shows as failed and adds nothing; another workspace's payment cannot be opened."""

from __future__ import annotations

import os
from typing import Any

from playwright.async_api import expect

from tests.e2e.helpers import at, make_workspace_owner, sign_in
from tests.support.balances import balance


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-topup-{name}.png", full_page=True)



async def _pay(page: Any, amount: str, method: str) -> None:
    await page.goto("/billing")
    await page.fill("#topup-amount", amount, timeout=60_000)
    await page.get_by_role("radio", name=method).check()
    await page.click("#topup-pay")


async def test_an_owner_tops_up_and_sees_pending_then_paid_and_a_receipt(
    clean: None, new_context: Any, payment_gateways: Any
) -> None:
    tinkoff, _ = payment_gateways
    email, workspace_id = await make_workspace_owner("payer")
    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, email)
    await page.goto("/billing")
    await expect(page.locator("#billing-balance")).to_have_text("0.00 USD", timeout=60_000)
    await _snap(page, "billing")

    tinkoff.hold = True  # the bank confirms after the payer is back
    try:
        await _pay(page, "25", "T-Bank (Tinkoff)")
        await expect(page.locator("#amount")).to_have_text("25.00", timeout=30_000)
        await page.click("#pay")
        await page.wait_for_url(at("/billing/payment"))
        status = page.locator("#payment-status")
        await expect(status).to_have_text("waiting for the payment", timeout=60_000)
        await expect(page.locator("#payment-balance")).to_have_text("0.00 USD")
        await _snap(page, "pending")
        order = page.url.split("order=")[1]
        sent = await tinkoff.notify(tinkoff.payment_for(order).payment_id, "CONFIRMED")
        assert (sent.status, sent.reply) == (200, "OK")
    finally:
        tinkoff.hold = False
    await expect(status).to_have_text("paid", timeout=30_000)
    await expect(page.locator("#payment-balance")).to_have_text("25.00 USD")
    assert await balance(workspace_id) == 2_500
    await _snap(page, "paid")

    await page.click("#payment-receipt")
    await page.wait_for_url(at("/billing/receipt"))
    receipt = page.locator("#receipt")
    await expect(receipt).to_contain_text("25.00 USD")
    await expect(receipt).to_contain_text(str(tinkoff.payment_for(order).payment_id))
    await expect(receipt).to_contain_text("T-Bank (Tinkoff)")
    await _snap(page, "receipt")

    await page.goto("/billing")
    row = page.locator(".payment-row")
    await expect(row).to_have_count(1, timeout=60_000)
    await expect(row).to_contain_text("paid")
    await expect(page.locator(".ledger-row").first).to_contain_text("Payment")


async def test_a_declined_card_shows_failed_and_another_workspace_sees_nothing(
    clean: None, new_context: Any, payment_gateways: Any
) -> None:
    email, workspace_id = await make_workspace_owner("declined")
    page = await (await new_context()).new_page()
    await sign_in(page, email)
    await _pay(page, "12.50", "YooKassa")
    await expect(page.locator("#amount")).to_have_text("12.50", timeout=30_000)
    await page.click("#decline")
    await page.wait_for_url(at("/billing/payment"))
    await expect(page.locator("#payment-status")).to_have_text("failed", timeout=60_000)
    await expect(page.get_by_text("insufficient_funds")).to_be_visible()
    assert await balance(workspace_id) == 0
    order = page.url.split("order=")[1]

    other_email, _ = await make_workspace_owner("nosy")
    other = await (await new_context()).new_page()
    await sign_in(other, other_email)
    await other.goto(f"/billing/payment?order={order}")
    await expect(other.get_by_text("That payment was not found.")).to_be_visible(
        timeout=60_000)
    await other.goto(f"/billing/receipt?order={order}")
    await expect(other.get_by_text("That payment was not found.")).to_be_visible(
        timeout=60_000)
