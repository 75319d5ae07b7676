"""Webhook mode end to end: the fleet registers the bot's webhook with its secret, the
Telegram test server POSTs updates to the real web app, the app checks the secret and
queues them, and the fleet answers. Requests with a wrong secret are refused."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select

from backend_services.channels.telegram import bots
from backend_services.core.db import session_scope
from backend_services.core.settings import reset_settings_cache
from backend_services.knowledge import sources
from backend_services.models import Message
from tests.integration.conversation_helpers import shop
from tests.integration.test_fleet import REFUNDS_A, REFUNDS_Q, TOKEN, WAIT, Fleet, _said
from tests.support.telegram_server import TelegramTestServer


@pytest_asyncio.fixture
async def telegram(clean: None, monkeypatch: pytest.MonkeyPatch
                   ) -> AsyncIterator[TelegramTestServer]:
    reset_settings_cache()
    async with TelegramTestServer() as server:
        server.add_bot(TOKEN, "shop_help_bot", first_name="Shop help")
        monkeypatch.setenv("REPLYX_TELEGRAM_API_BASE", server.base_url)
        reset_settings_cache()
        yield server
    monkeypatch.undo()
    reset_settings_cache()


@pytest.fixture
def app_fleet(telegram: TelegramTestServer, app_server: Any) -> Iterator[Fleet]:
    """A fleet that shares the web app's Redis (the update stream) and database."""
    env = {**app_server.env, "REPLYX_TELEGRAM_API_BASE": telegram.base_url,
           "REPLYX_TELEGRAM_WEBHOOK_BASE": app_server.url, "REPLYX_FLEET_WORKERS": "2",
           "REPLYX_HEARTBEAT_SECONDS": "1"}
    f = Fleet(env, Path(app_server.log).parent / f"fleet-webhook-{os.getpid()}.log")
    f.start()
    yield f
    f.stop()


async def test_webhook_updates_are_answered_and_a_wrong_secret_is_refused(
    app_server: Any, app_fleet: Fleet, telegram: TelegramTestServer
) -> None:
    s = await shop("wh", platform_admin=True)
    assert s.bot.id is not None
    await sources.save_qa(s.owner, s.bot.id, None, REFUNDS_Q, REFUNDS_A)
    view = await bots.add_bot(s.owner, s.bot.id, TOKEN, mode="webhook")

    url, secret = await telegram.wait_for(
        lambda: telegram.webhook(TOKEN) if telegram.webhook(TOKEN)[0] else None, WAIT)
    assert url == f"{app_server.url}/api/telegram/webhook/{view.id}"
    assert secret

    telegram.push_message(TOKEN, 901, REFUNDS_Q)
    await _said(telegram, TOKEN, 901, REFUNDS_A, app_fleet)
    assert all(d.secret_token == secret for d in telegram.deliveries(TOKEN))

    update = {"update_id": 999_001, "message": {
        "message_id": 5, "date": 0, "chat": {"id": 901, "type": "private"}, "text": "forged"}}
    async with httpx.AsyncClient(base_url=app_server.url) as client:
        wrong = await client.post(f"/api/telegram/webhook/{view.id}", json=update,
                                  headers={"X-Telegram-Bot-Api-Secret-Token": "guess"})
        missing = await client.post(f"/api/telegram/webhook/{view.id}", json=update)
        unknown = await client.post("/api/telegram/webhook/424242", json=update,
                                    headers={"X-Telegram-Bot-Api-Secret-Token": secret})
    assert (wrong.status_code, missing.status_code, unknown.status_code) == (403, 403, 403)
    assert secret not in wrong.text
    async with session_scope() as db:
        forged = (await db.exec(select(Message).where(Message.content == "forged"))).all()
    assert forged == []
