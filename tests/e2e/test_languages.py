"""Russian and English in the browser: the sign-in pages follow the browser's language
until the visitor picks one (remembered), the dashboard follows the person's own language
(the one their e-mails use too), and the header's switch changes both at once."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.models import User
from tests.e2e.helpers import make_workspace_owner, set_language, sign_in, snap


async def _language_of(email: str) -> str:
    async with session_scope() as session:
        user = (await session.exec(select(User).where(User.email == email))).one()
    return user.language


async def _pick(page: Any, language: str) -> None:
    await page.click("#language-switch")
    await page.get_by_role("option", name=language).click()


async def test_sign_in_pages_follow_the_browser_until_the_visitor_chooses(
    clean: None, new_context: Any
) -> None:
    page = await (await new_context(locale="ru-RU")).new_page()
    await page.goto("/login")
    await expect(page.locator("#page-title")).to_have_text("Вход")
    await expect(page.locator("#login-submit")).to_have_text("Войти")
    await expect(page.get_by_text("Забыли пароль?")).to_be_visible()
    await snap(page, "login-ru")
    await page.goto("/signup")
    await expect(page.locator("#page-title")).to_have_text("Создайте рабочее пространство")

    await _pick(page, "English")
    await expect(page.locator("#page-title")).to_have_text("Create your workspace")
    await page.goto("/login")  # a new page load: the choice is remembered
    await expect(page.locator("#login-submit")).to_have_text("Sign in")

    english_browser = await (await new_context(locale="en-US")).new_page()
    await english_browser.goto("/login")
    await expect(english_browser.locator("#page-title")).to_have_text("Sign in")


async def test_the_dashboard_speaks_the_persons_language_and_the_switch_changes_it(
    clean: None, new_context: Any
) -> None:
    email, _ = await make_workspace_owner("olga")
    await set_language(email, "ru")
    # An English browser: the person's own language wins once they are signed in.
    page = await (await new_context(locale="en-US")).new_page()
    await sign_in(page, email)
    await expect(page.locator("#page-title")).to_have_text("Обзор")
    nav = page.get_by_role("navigation")
    await expect(nav.get_by_text("База знаний")).to_be_visible()
    await expect(nav.get_by_text("Консоль оператора")).to_be_visible()
    await snap(page, "dashboard-ru")
    await page.goto("/settings")
    await expect(page.locator("#save-profile")).to_have_text("Сохранить профиль")
    await expect(page.get_by_text("Где выполнен вход")).to_be_visible()
    await expect(page.get_by_text("Язык страниц и писем")).to_be_visible()
    await snap(page, "settings-ru")
    await page.goto("/dashboard")
    await expect(page.locator("#page-title")).to_have_text("Обзор")

    await _pick(page, "English")
    await expect(page.locator("#page-title")).to_have_text("Overview")
    await expect(nav.get_by_text("Knowledge")).to_be_visible()
    assert await _language_of(email) == "en"  # their e-mails follow too
    await page.goto("/knowledge")
    await expect(page.locator("#page-title")).to_have_text("Knowledge")
