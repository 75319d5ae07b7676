"""Telegram conversations in the operator console: a Telegram user asks for a person, the
conversation appears in the console's queue live (the fleet is another process: the
change travels through the dialog stream), the operator takes it over and replies, the
reply arrives in the Telegram chat, and the user's answer appears in the console live."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from backend_services.channels.telegram import bots
from backend_services.knowledge import sources
from backend_services.models import Role
from tests.e2e.helpers import (
    add_member,
    create_assistant,
    make_workspace_owner,
    owner_principal,
    sign_in,
)
from tests.integration.test_fleet import WAIT, Fleet, _said
from tests.support.telegram_server import TelegramTestServer

LIVE = 30_000


async def test_a_telegram_chat_is_handled_from_the_console_live(
    clean: None, app_server: Any, new_context: Any, api_base: TelegramTestServer
) -> None:
    tg = api_base
    token = f"{7300000000 + secrets.randbelow(99_999)}:AA{secrets.token_urlsafe(24)}"
    tg.add_bot(token, "console_test_bot", first_name="Console test")
    _, ws = await make_workspace_owner("tgconsole")
    assistant_id = await create_assistant(ws, "Shop helper")
    owner = await owner_principal(ws)
    await sources.save_qa(owner, assistant_id, None, "Where is my order?",
                          "Orders ship within two days.")
    await bots.add_bot(owner, assistant_id, token)
    fleet = Fleet({**app_server.env, "REPLYX_FLEET_WORKERS": "1",
                   "REPLYX_HEARTBEAT_SECONDS": "1"},
                  Path(app_server.log).parent / f"fleet-console-{os.getpid()}.log")
    fleet.start()
    try:
        await tg.wait_until_polling(token, timeout=WAIT)
        console = await (await new_context()).new_page()
        await sign_in(console, await add_member(ws, Role.OPERATOR, "vera"))
        await console.goto("/console")
        await expect(console.locator("#queue-count")).to_have_text("0", timeout=LIVE)

        tg.push_message(token, 4242, "I want to talk to a person", from_name="Ivan")
        await expect(console.locator("#queue-count")).to_have_text("1", timeout=LIVE)
        row = console.locator(".inbox-row").first
        await expect(row).to_contain_text("telegram")
        await expect(row).to_contain_text("Ivan")
        await row.click()
        await console.locator("#take-over").click()
        await expect(console.locator("#hand-back")).to_be_visible(timeout=LIVE)
        await console.locator("#console-input").fill("Hello Ivan, Vera here.")
        await console.locator("#console-send").click()
        await _said(tg, token, 4242, "Vera here", fleet)

        tg.push_message(token, 4242, "Great, thanks!", from_name="Ivan")
        await expect(console.locator("#console-messages")).to_contain_text(
            "Great, thanks!", timeout=LIVE)
    finally:
        fleet.stop()
