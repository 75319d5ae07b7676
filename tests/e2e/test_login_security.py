"""Sign-in protections a user can see: lockout after failures, a cookie scripts cannot read."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from tests.e2e.helpers import PASSWORD, make_workspace_owner, session_cookie, sign_in


async def _attempt(context: Any, email: str, password: str) -> str:
    """One sign-in attempt in a fresh tab (fresh form state); returns the error shown."""
    page = await context.new_page()
    await page.goto("/login")
    await page.fill("#email", email)
    await page.fill("#password", password)
    await page.click("#login-submit")
    error = page.locator("#form-error")
    await error.wait_for()
    text = await error.inner_text()
    await page.close()
    return text


async def test_wrong_password_locks_the_account_and_says_how_long(
    clean: None, new_context: Any
) -> None:
    email, _ = await make_workspace_owner("locked")
    context = await new_context()
    for _ in range(5):
        assert "Wrong e-mail or password." in await _attempt(context, email, "Wrong-pass-42")

    # The sixth attempt is refused even with the right password, and says how long to wait.
    message = await _attempt(context, email, PASSWORD)
    m = re.search(r"Try again in (\d+) s", message)
    assert m, message
    assert 1 <= int(m.group(1)) <= 300
    assert "Wrong e-mail or password." not in message

    # Still on the sign-in page with no session.
    page = await context.new_page()
    await page.goto("/dashboard")
    await expect(page.locator("#login-submit")).to_be_visible()
    assert not [c for c in await context.cookies() if c["name"] == "replyx_session"]


async def test_session_cookie_is_httponly_and_not_readable_by_scripts(
    clean: None, new_context: Any
) -> None:
    email, _ = await make_workspace_owner()
    context = await new_context()
    page = await context.new_page()
    await sign_in(page, email)

    assert "replyx_session" not in await page.evaluate("document.cookie")
    cookie = await session_cookie(context)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["path"] == "/"
    assert len(cookie["value"]) >= 20  # a random id, not something guessable
