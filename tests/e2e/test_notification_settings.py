"""Notification choices in a real browser: an operator sees only the events an operator
may hear of, turns one off and chooses Russian, and the next waiting visitor's mail
follows those choices."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect

from backend_services.conversations import turns
from backend_services.conversations.actors import contact_actor
from backend_services.models import Role
from backend_services.notifications.service import run_once
from tests.e2e.helpers import add_member, create_assistant, make_workspace_owner, sign_in
from tests.support.smtp_server import SmtpTestServer


async def test_an_operator_chooses_what_reaches_them_and_in_which_language(
    clean: None, new_context: Any, smtp: SmtpTestServer
) -> None:
    owner_email, ws = await make_workspace_owner("shop")
    operator = await add_member(ws, Role.OPERATOR, "operator")
    assistant_id = await create_assistant(ws, "Shop bot")

    page = await (await new_context()).new_page()
    await sign_in(page, operator)
    await page.goto("/settings")
    choices = page.locator(".notice-choice")
    await expect(choices).to_have_count(3, timeout=60_000)  # no money for operators
    await expect(page.locator("#notify-waiting")).to_have_attribute("data-state", "checked")
    await page.click("#notify-contact")
    await page.get_by_role("radio", name="Русский").click()
    await page.click("#save-notifications")
    await expect(page.get_by_text("Notification settings saved.")).to_be_visible()
    await page.reload()
    await expect(page.locator("#notify-contact")).to_have_attribute(
        "data-state", "unchecked", timeout=60_000)
    await expect(page.get_by_role("radio", name="Русский")).to_be_checked()

    smtp.forget()
    who = await contact_actor(ws, assistant_id, "widget", "v-1")
    start = await turns.handle_visitor_message(who, "Где мой заказ?", None)
    await turns.request_human(who, start.posted.dialog.id)
    await run_once(with_weekly=False)
    mail = await asyncio.to_thread(smtp.wait_for, operator, "Посетитель ждёт оператора")
    assert "Где мой заказ?" in mail.text
    html = mail.message.get_body(preferencelist=("html",))
    assert html is not None and "Открыть диалог" in html.get_content()
    await asyncio.to_thread(smtp.wait_for, owner_email, "A visitor is waiting")
