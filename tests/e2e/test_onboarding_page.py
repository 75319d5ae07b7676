"""The Overview's checklist in the browser: a new workspace's owner is led step by step
(each step links to its page and ticks itself), hides it when done with it; an operator
never sees it; a Russian owner reads it in Russian."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from backend_services.models import Role
from tests.e2e.helpers import (
    add_member,
    at,
    create_assistant,
    make_workspace_owner,
    set_language,
    sign_in,
    snap,
)


async def test_a_new_owner_is_led_through_the_checklist_and_can_hide_it(
    clean: None, new_context: Any
) -> None:
    email, workspace_id = await make_workspace_owner("nora")
    page = await (await new_context()).new_page()
    await sign_in(page, email)
    await expect(page.locator("#overview-greeting")).to_have_text("Welcome, Nora.")
    checklist = page.locator("#onboarding")
    await expect(checklist).to_contain_text("Get your assistant live")
    await expect(page.locator("#onboarding-progress")).to_have_text("0 of 7 done")
    await expect(page.locator(".onboarding-step")).to_have_count(7)
    await snap(page, "onboarding-new")

    await page.click("#onboarding-go-assistant")
    await page.wait_for_url(at("/assistants"))
    await create_assistant(workspace_id, "Help desk")
    await page.goto("/dashboard")
    await expect(page.locator("#onboarding-progress")).to_have_text("1 of 7 done")
    await expect(page.locator("#onboarding-assistant")).to_have_class(re.compile(r"\bdone\b"))
    await expect(page.locator("#onboarding-go-assistant")).to_have_count(0)

    await page.click("#onboarding-hide")
    await expect(checklist).to_have_count(0)
    await page.reload()
    await expect(page.locator("#overview-greeting")).to_be_visible()
    await expect(checklist).to_have_count(0)


async def test_operators_see_no_checklist_and_russian_owners_read_it_in_russian(
    clean: None, new_context: Any
) -> None:
    email, workspace_id = await make_workspace_owner("olga")
    operator = await add_member(workspace_id, Role.OPERATOR, "oleg")
    page = await (await new_context()).new_page()
    await sign_in(page, operator)
    await expect(page.locator("#overview-greeting")).to_be_visible()
    await expect(page.locator("#onboarding")).to_have_count(0)

    await set_language(email, "ru")
    owner = await (await new_context()).new_page()
    await sign_in(owner, email)
    await expect(owner.locator("#onboarding")).to_contain_text("Запустите своего ассистента")
    # The operator is a second member: "invite an operator" is done already.
    await expect(owner.locator("#onboarding-progress")).to_have_text("Сделано 1 из 7")
    await expect(owner.locator("#overview-greeting")).to_have_text("Добро пожаловать, Olga.")
    await snap(owner, "onboarding-ru")
