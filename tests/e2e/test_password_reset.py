"""Forgotten password: the mail goes through SMTP, the link works once, the old password dies."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect

from tests.e2e.helpers import PASSWORD, make_workspace_owner, path_of, sign_in

NEW_PASSWORD = "Brand-new-pass-77"


async def _set_password(page: Any, link: str, password: str) -> None:
    await page.goto(path_of(link))
    await page.fill("#password", password)
    await page.fill("#password2", password)
    await page.click("#reset-submit")


async def test_password_reset_end_to_end_through_smtp(
    clean: None, new_context: Any, smtp: Any
) -> None:
    email, _ = await make_workspace_owner("forgetful")
    context = await new_context()
    page = await context.new_page()

    await page.goto("/login")
    await page.get_by_role("link", name="Forgot password?").click()
    await expect(page.locator("#page-title")).to_have_text("Reset your password")
    await page.fill("#email", email)
    await page.get_by_role("button", name="Send reset link").click()
    await expect(page.locator("#forgot-sent")).to_contain_text("a reset link is on its way")

    mail = await asyncio.to_thread(smtp.wait_for, email, "Reset your ReplyX password")
    link = mail.link("/reset")
    await _set_password(page, link, NEW_PASSWORD)
    await expect(page.locator("#reset-done")).to_contain_text("Your password is changed")

    # The old password no longer opens the account; the new one does.
    old = await context.new_page()
    await old.goto("/login")
    await old.fill("#email", email)
    await old.fill("#password", PASSWORD)
    await old.click("#login-submit")
    await expect(old.locator("#form-error")).to_contain_text("Wrong e-mail or password.")
    await sign_in(await context.new_page(), email, NEW_PASSWORD)

    # The link worked once: opening it again says so at once, before any password is
    # typed, and offers a new link; nothing changes.
    again = await (await new_context()).new_page()
    await again.goto(path_of(link))
    await expect(again.locator("#reset-dead")).to_contain_text(
        "This link is invalid or has already been used.")
    await expect(again.locator("#reset-submit")).to_have_count(0)
    await expect(again.get_by_role("link", name="Ask for a new reset link")).to_be_visible()
    await sign_in(await (await new_context()).new_page(), email, NEW_PASSWORD)
