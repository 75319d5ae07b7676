"""Setting up an assistant in the browser: a template fills an editable prompt and greeting
in the assistant's language (never over the tenant's own prompt), the page says plainly
when answers will quote the knowledge for want of an AI provider, and the model field
offers the models the platform's providers serve."""

from __future__ import annotations

import re
from typing import Any

from playwright.async_api import expect

from tests.e2e.helpers import add_provider_key, make_platform_admin, make_workspace_owner, sign_in


async def _choose(page: Any, select_id: str, option: str) -> None:
    await page.click(f"#{select_id}")
    await page.get_by_role("option", name=option).click()


async def test_a_template_fills_prompt_and_greeting_and_the_page_says_when_answers_quote(
    clean: None, new_context: Any
) -> None:
    email, _ = await make_workspace_owner("tanya")
    page = await (await new_context()).new_page()
    await sign_in(page, email)
    await page.goto("/assistants")
    await expect(page.locator("#extractive-notice")).to_contain_text(
        "No AI provider is configured")
    await page.click("#new-assistant")
    await expect(page.locator("#editor-extractive-notice")).to_be_visible()

    await _choose(page, "language", "Русский")
    await _choose(page, "industry", "Clinic / healthcare")
    await expect(page.locator("#system_prompt")).to_have_value(
        re.compile("^Ты помогаешь пациентам клиники"))
    await expect(page.locator("#greeting")).to_have_value(
        "Здравствуйте! Помогу с записью, услугами и часами работы.")

    # Another template replaces a template's text; never the tenant's own words.
    await _choose(page, "industry", "Online shop")
    await expect(page.locator("#system_prompt")).to_have_value(
        re.compile("^Ты помогаешь покупателям интернет-магазина"))
    await page.fill("#system_prompt", "Мы продаём только велосипеды.")
    await _choose(page, "industry", "Travel and hospitality")
    await expect(page.get_by_text("Your own prompt is kept")).to_be_visible()
    await expect(page.locator("#system_prompt")).to_have_value("Мы продаём только велосипеды.")

    # With a provider configured: no notice, and its models are offered.
    admin = await make_platform_admin(email)
    await add_provider_key(admin, "https://llm.example.com/v1", "sk-test-000",
                           models=["gpt-4o-mini", "llama-3.1-70b"])
    await page.goto("/assistants")
    await expect(page.locator("#new-assistant")).to_be_visible()
    await expect(page.locator("#extractive-notice")).to_have_count(0)
    options = page.locator("#model-options option")
    await expect(options).to_have_count(2)
    assert [await o.get_attribute("value") for o in await options.all()] == [
        "gpt-4o-mini", "llama-3.1-70b"]
