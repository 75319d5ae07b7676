"""A visitor becomes a customer: sign up, confirm by mail, build an assistant, log out."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from playwright.async_api import expect
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.models import Assistant, User, UserSession
from tests.e2e.helpers import (
    LOGIN_URL,
    PASSWORD,
    at,
    main_nav,
    path_of,
    session_cookie,
    unique_email,
)


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-{name}.png", full_page=True)


async def _sign_in_form(page: Any, email: str, password: str) -> None:
    await page.goto("/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("#login-submit")


async def test_visitor_signs_up_confirms_logs_in_creates_assistant_and_logs_out(
    clean: None, new_context: Any, smtp: Any
) -> None:
    email = unique_email("visitor")
    context = await new_context()
    page = await context.new_page()

    # Sign up.
    await page.goto("/signup")
    await page.fill("#name", "Vera Visitor")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.fill("#workspace", "Vera's Shop")
    await page.click("#signup-submit")
    await expect(page.locator("#signup-done")).to_contain_text(email)
    await expect(page.locator("#signup-done")).to_contain_text("Open it to activate")
    await _snap(page, "signup-done")

    # Signing in before confirming is refused, and says why.
    await _sign_in_form(page, email, PASSWORD)
    await expect(page.locator("#form-error")).to_contain_text("Confirm your e-mail")
    assert "/login" in page.url

    # The confirmation mail reaches the SMTP server; its link confirms the address.
    mail = await asyncio.to_thread(smtp.wait_for, email, "Confirm your ReplyX")
    await page.goto(path_of(mail.link("/confirm")))
    await expect(page.locator("#confirm-ok")).to_contain_text(f"{email} is confirmed")

    # Now signing in works.
    await page.get_by_role("link", name="Sign in").click()
    await page.wait_for_url(LOGIN_URL)
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(at("/dashboard"))
    # The first sign-in is a welcome, not a "welcome back".
    await expect(page.locator("#overview-greeting")).to_have_text("Welcome, Vera Visitor.")
    await expect(page.get_by_text("Vera's Shop")).to_be_visible()

    # Assistants: the page starts empty.
    await main_nav(page).get_by_role("link", name="Assistants").click()
    await page.wait_for_url(at("/assistants"))
    await expect(page.locator("#page-title")).to_have_text("Assistants")
    await expect(page.get_by_text("No assistants yet.")).to_be_visible()

    # Create one with every field filled in.
    await page.click("#new-assistant")
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_text("New assistant")).to_be_visible()
    await page.fill("#name", "Shop helper")
    await page.fill("#system_prompt", "You answer questions about Vera's Shop.")
    await page.fill("#model", "gpt-4o")
    await page.fill("#temperature", "0.7")
    await page.click("#language")
    await page.get_by_role("option", name="Русский").click()
    await expect(page.locator("#language")).to_have_text("Русский")
    await page.click("#industry")
    await page.get_by_role("option", name="Online shop").click()
    await expect(page.locator("#industry")).to_have_text("Online shop")
    await page.fill("#greeting", "Здравствуйте! Чем помочь?")
    await _snap(page, "assistant-editor")
    await page.click("#assistant-save")
    await expect(dialog).to_be_hidden()
    rows = page.locator(".assistant-row")
    await expect(rows).to_have_count(1)
    cells = rows.first.get_by_role("cell")
    await expect(cells.nth(0)).to_have_text("Shop helper")
    await expect(cells.nth(1)).to_have_text("gpt-4o")
    await expect(cells.nth(2)).to_have_text("ru")
    await expect(cells.nth(3)).to_have_text("0.7")
    await expect(cells.nth(4)).to_have_text("active")

    # Edit it: the editor shows what was saved; a new name replaces the old one.
    await rows.first.get_by_role("button", name="Edit").click()
    await expect(dialog.get_by_text("Edit assistant")).to_be_visible()
    await expect(page.locator("#name")).to_have_value("Shop helper")
    await expect(page.locator("#greeting")).to_have_value("Здравствуйте! Чем помочь?")
    await expect(page.locator("#language")).to_have_text("Русский")
    await expect(page.locator("#industry")).to_have_text("Online shop")
    await page.fill("#name", "Shop concierge")
    await page.click("#assistant-save")
    await expect(dialog).to_be_hidden()
    await expect(rows).to_have_count(1)
    await expect(cells.nth(0)).to_have_text("Shop concierge")
    await expect(cells.nth(2)).to_have_text("ru")  # an edit keeps the other fields
    await expect(cells.nth(3)).to_have_text("0.7")
    async with session_scope() as session:
        saved = (await session.exec(select(Assistant))).all()
    assert [(a.name, a.language, a.model, a.temperature, a.greeting, a.industry)
            for a in saved] == [
        ("Shop concierge", "ru", "gpt-4o", 0.7, "Здравствуйте! Чем помочь?", "ecommerce")
    ]
    assert saved[0].system_prompt == "You answer questions about Vera's Shop."

    # Delete it through the confirmation dialog: the empty state comes back.
    await rows.first.get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("alertdialog")
    await expect(confirm).to_contain_text("Delete this assistant?")
    await page.click("#confirm-delete")
    await expect(confirm).to_be_hidden()
    await expect(page.get_by_text("No assistants yet.")).to_be_visible()
    await expect(rows).to_have_count(0)

    # Log out from the user menu.
    cookie = await session_cookie(context)
    await page.click("#user-menu")
    await page.click("#logout")
    await page.wait_for_url(LOGIN_URL)
    await expect(page.locator("#login-submit")).to_be_visible()
    await page.goto("/dashboard")
    await page.wait_for_url(LOGIN_URL)
    await expect(page.locator("#login-submit")).to_be_visible()

    # The session ended on the server, not only in this browser: the old cookie is dead.
    async with session_scope() as session:
        user = (await session.exec(select(User).where(User.email == email))).one()
        sessions = (await session.exec(
            select(UserSession).where(UserSession.user_id == user.id))).all()
    assert len(sessions) == 1 and sessions[0].revoked_at is not None
    await context.add_cookies([{k: cookie[k] for k in (
        "name", "value", "domain", "path", "httpOnly", "sameSite", "secure")}])
    await page.goto("/dashboard")
    await page.wait_for_url(LOGIN_URL)
    await expect(page.locator("#login-submit")).to_be_visible()
