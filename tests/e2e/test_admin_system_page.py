"""The admin's System page in the browser: the figures and the web workers of the running
app, a failed job retried from the page, another tenant's bot stopped from it — and a
tenant's crafted event reaching none of it."""

from __future__ import annotations

import secrets
from typing import Any

from playwright.async_api import expect

from backend_services.channels.telegram import bots
from backend_services.knowledge.sources import INGEST_TASK
from state.admin_system import AdminSystemState
from tests.e2e.helpers import (
    SocketTap,
    at,
    create_assistant,
    make_platform_admin,
    make_workspace_owner,
    owner_principal,
    sign_in,
    snap,
)
from tests.support.job_queue import failed_job, job_status
from tests.support.telegram_server import TelegramTestServer

STATE = AdminSystemState.get_full_name()
LIVE = 30_000  # a heartbeat period (10 s) plus a page refresh (10 s), with room


async def test_the_admin_reads_the_system_page_retries_a_job_and_stops_a_tenants_bot(
    telegram: TelegramTestServer, new_context: Any
) -> None:
    admin_email, _ = await make_workspace_owner("root")
    await make_platform_admin(admin_email)
    _, shop = await make_workspace_owner("shop")
    token = f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(25)}"
    username = f"shop_{secrets.token_hex(3)}_bot"
    telegram.add_bot(token, username, first_name="Shop")
    bot = await bots.add_bot(await owner_principal(shop), await create_assistant(shop, "Desk"),
                             token)
    job_id = await failed_job(987_654)

    page = await (await new_context()).new_page()
    await sign_in(page, admin_email)
    await page.goto("/admin/system")
    await expect(page.locator("#system-card-database")).to_contain_text("MB")
    await expect(page.locator("#system-tables")).to_contain_text("messages")
    # The app under test runs web workers; each reports itself within its heartbeat
    # period (the test's clean start emptied Valkey), and the page refreshes by itself.
    await expect(page.locator("#system-processes")).to_contain_text("Web worker",
                                                                     timeout=LIVE)
    await expect(page.locator("#system-key-families")).to_contain_text("replyx:")
    failed = page.locator(".failed-job", has_text=INGEST_TASK.full_name)
    await expect(failed).to_contain_text("document_id=987654")
    row = page.locator(".fleet-bot", has_text=username)
    await expect(row).to_contain_text("shop workspace")
    await snap(page, "admin-system")

    await page.click(f"#retry-job-{job_id}")
    await expect(page.get_by_text("The job is back on its queue.")).to_be_visible()
    await expect(failed).to_have_count(0)
    assert await job_status(job_id) == "todo"

    await page.click(f"#stop-bot-{bot.id}")
    await expect(page.get_by_text("Bot stopped.")).to_be_visible()
    await expect(page.locator(f"#start-bot-{bot.id}")).to_be_visible()
    assert [b.channel_id for b in await bots.fleet_bots()] == []
    await page.click(f"#start-bot-{bot.id}")
    await expect(page.get_by_text("Bot started.")).to_be_visible()
    assert [b.channel_id for b in await bots.fleet_bots()] == [bot.id]


async def test_a_tenants_crafted_event_cannot_stop_bots_or_retry_jobs(
    telegram: TelegramTestServer, new_context: Any
) -> None:
    owner, shop = await make_workspace_owner("shop")
    token = f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(25)}"
    telegram.add_bot(token, f"shop_{secrets.token_hex(3)}_bot", first_name="Shop")
    bot = await bots.add_bot(await owner_principal(shop), await create_assistant(shop, "Desk"),
                             token)
    job_id = await failed_job(987_654)
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, owner)
    await page.goto("/admin/system")
    await page.wait_for_url(at("/dashboard"))
    await page.goto("/audit-log")
    await page.click("#audit-apply")  # a real event to copy
    real = tap.real_event_frame("apply")
    mark = tap.send(tap.craft(real, f"{STATE}.set_bot_running",
                              {"channel_id": bot.id, "running": False}))
    await tap.wait_for_reply("Only platform administrators can do this.", after=mark)
    mark = tap.send(tap.craft(real, f"{STATE}.retry_job", {"job_id": job_id}))
    await tap.wait_for_reply("Only platform administrators can do this.", after=mark)
    assert [b.channel_id for b in await bots.fleet_bots()] == [bot.id]
    assert await job_status(job_id) == "failed"
