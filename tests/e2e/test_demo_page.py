"""A fresh install's /demo page: the demo workspace's widget works as a visitor meets it."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import httpx
from playwright.async_api import expect


async def _seed_demo(app_server: Any) -> None:
    """`ensure_demo` as `replyx run` calls it, with the app's own settings (its URL)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import asyncio\nfrom replyx_app.seed import ensure_demo\nasyncio.run(ensure_demo())",
        env=app_server.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "/demo" in out.decode()  # the start-up message points at the page


async def test_demo_page_serves_the_demo_widgets_and_the_chat_opens(
    clean: None, app_server: Any, new_context: Any
) -> None:
    async with httpx.AsyncClient(base_url=app_server.url) as client:
        assert (await client.get("/demo")).status_code == 404  # no demo workspace yet
        await _seed_demo(app_server)
        page_en = await client.get("/demo")
        page_ru = await client.get("/demo", params={"lang": "ru"})
    assert page_en.status_code == 200 and 'data-assistant="wid_' in page_en.text
    assert page_en.text != page_ru.text and 'lang="ru"' in page_ru.text

    page = await (await new_context()).new_page()
    await page.goto("/demo")
    await page.get_by_role("button", name="Open chat").click()
    chat = page.frame_locator("iframe")
    await expect(chat.locator("#widget-title")).not_to_be_empty(timeout=30_000)
    await expect(chat.locator("#widget-input")).to_be_editable()
