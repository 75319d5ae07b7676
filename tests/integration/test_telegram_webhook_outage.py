"""Webhook mode during a Valkey outage: Telegram is told "not now" (a 5xx), never "got it",
for an update the web app could not queue, so Telegram delivers it again and nothing is
lost. The web app (the real API behind its middleware, over HTTP) reaches Valkey through a
proxy the test cuts; the test reads the stream directly."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from backend_services.channels.telegram import bots
from backend_services.channels.telegram.updates import UPDATES_STREAM
from backend_services.core import events, redis_client
from backend_services.core.db import session_scope
from backend_services.core.security import decrypt_secret
from backend_services.core.settings import reset_settings_cache
from backend_services.models import Channel
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from tests.integration.conversation_helpers import shop
from tests.integration.test_fleet import _proxy_for, _through
from tests.support.api_server import serve
from tests.support.tcp_proxy import TcpProxy
from tests.support.telegram_server import TelegramTestServer

TOKEN = "7103003003:AAWebhookBotSecretPart0123456789ab"


@pytest_asyncio.fixture
async def web_via_proxy(
    clean: None, env: pytest.MonkeyPatch, services: dict[str, str]
) -> AsyncIterator[tuple[str, TcpProxy, TelegramTestServer]]:
    async with TelegramTestServer() as telegram:
        telegram.add_bot(TOKEN, "hook_bot", first_name="Hook")
        env.setenv("REPLYX_TELEGRAM_API_BASE", telegram.base_url)
        proxy = _proxy_for(services["REDIS_URL"])
        await proxy.start()
        env.setenv("REDIS_URL", _through(services["REDIS_URL"], proxy))
        reset_settings_cache()
        await redis_client.close_redis()  # the next client goes through the proxy
        try:
            async with serve(SecurityAndMetrics(build_api())) as url:
                yield url, proxy, telegram
        finally:
            await proxy.restore()
            await redis_client.close_redis()
            await proxy.stop()


async def _queued() -> list[int]:
    entries = await redis_client.get_redis().xrange(events.stream_key(UPDATES_STREAM))
    return [json.loads(fields["event"])["update"]["update_id"] for _id, fields in entries]


async def test_an_update_that_cannot_be_queued_is_refused_so_telegram_sends_it_again(
    web_via_proxy: tuple[str, TcpProxy, TelegramTestServer],
) -> None:
    url, proxy, _telegram = web_via_proxy
    s = await shop("hook")
    assert s.bot.id is not None
    view = await bots.add_bot(s.owner, s.bot.id, TOKEN, mode="webhook")
    async with session_scope() as session:
        row = await session.get(Channel, view.id)
    assert row is not None
    headers = {"X-Telegram-Bot-Api-Secret-Token": decrypt_secret(row.webhook_secret_encrypted),
               "Content-Type": "application/json"}

    def update(update_id: int) -> bytes:
        return json.dumps({"update_id": update_id, "message": {
            "message_id": update_id, "date": 0, "text": "Hello?",
            "chat": {"id": 42, "type": "private"}}}).encode()

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        path = f"/api/telegram/webhook/{view.id}"
        assert (await client.post(path, content=update(1), headers=headers)).status_code == 200
        await proxy.cut()
        refused = await client.post(path, content=update(2), headers=headers)
        assert refused.status_code == 503, refused.text  # Telegram retries a non-2xx
        assert refused.headers.get("Retry-After") == "5"
        await proxy.restore()
        again = await client.post(path, content=update(2), headers=headers)  # its retry
        assert again.status_code == 200, again.text
    assert await _queued() == [1, 2]
