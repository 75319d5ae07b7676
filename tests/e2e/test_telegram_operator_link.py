"""Linking Telegram from Settings in a real browser: an operator makes the one-time link
to the workspace's bot, sees the account linked once Telegram opened it, and unlinks."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from playwright.async_api import expect

from backend_services.channels.telegram import bots, operators
from backend_services.models import Role
from tests.e2e.helpers import (
    add_member,
    create_assistant,
    make_workspace_owner,
    owner_principal,
    sign_in,
)
from tests.support.telegram_server import TelegramTestServer


async def test_an_operator_links_telegram_from_settings_and_unlinks(
    clean: None, new_context: Any, api_base: TelegramTestServer
) -> None:
    token = f"{7400000000 + secrets.randbelow(99_999)}:AA{secrets.token_urlsafe(24)}"
    api_base.add_bot(token, "link_test_bot", first_name="Link test")
    _, ws = await make_workspace_owner("tglink")
    assistant_id = await create_assistant(ws, "Shop helper")
    channel = await bots.add_bot(await owner_principal(ws), assistant_id, token)
    operator = await add_member(ws, Role.OPERATOR, "vera")

    page = await (await new_context()).new_page()
    await sign_in(page, operator)
    await page.goto("/settings")
    await page.click("#telegram-link-make")
    link = page.locator("#telegram-link")
    await expect(link).to_be_visible(timeout=30_000)
    href = await link.get_attribute("href")
    assert href is not None and href.startswith("https://t.me/link_test_bot?start=op-")

    # What the bot does when Telegram opens the link (the fleet's /start handler).
    start = parse_qs(urlsplit(href).query)["start"][0]
    answer = await operators.complete_link(channel.id, ws, start[len("op-"):], 5551,
                                           5551, "Vera K")
    assert answer.startswith("Linked")
    await page.get_by_role("button", name="I have opened it").click()
    await expect(page.locator("#telegram-linked")).to_contain_text(
        "Vera K through @link_test_bot")
    await page.click("#telegram-unlink")
    await expect(page.get_by_text("Telegram unlinked")).to_be_visible()
    await expect(page.locator("#telegram-link-make")).to_be_visible()
    assert await operators.operator_chat(channel.id, ws, 5551) is None
