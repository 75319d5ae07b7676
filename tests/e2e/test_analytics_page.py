"""The Analytics page in a real browser: an owner reads a seeded week (known answers) in
the business's time zone, against the week before, the same figures in the downloaded
CSV, the heat map and the way to the unanswered questions; another workspace's owner and
an operator reach none of it, by the page or by crafted events."""

from __future__ import annotations

import asyncio
import csv
import io
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from backend_services.analytics import rollup
from backend_services.conversations.actors import contact_actor
from backend_services.identity import auth
from backend_services.models import Role
from state.admin_analytics import AdminAnalyticsState
from state.analytics import AnalyticsState
from tests.e2e.helpers import (
    PASSWORD,
    SocketTap,
    add_member,
    at,
    create_assistant,
    make_platform_admin,
    make_workspace_owner,
    owner_principal,
    save_profile,
    sign_in,
)
from tests.support.analytics_seed import ask, seed_week

APPLY = AnalyticsState.get_full_name() + ".apply"
PLATFORM_APPLY = AdminAnalyticsState.get_full_name() + ".apply"
EXPORT = AnalyticsState.get_full_name() + ".export"


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-analytics-{name}.png", full_page=True)


async def _real_frame(page: Any, tap: SocketTap, name: str) -> str:
    """A real event frame of this page's socket to craft others from: the profile saved
    on Settings (a page every member may use)."""
    await page.goto("/settings")
    await expect(page.locator("#name")).to_have_value(name)  # the page is live
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    return tap.real_event_frame("save_profile")


def _metric(page: Any, key: str) -> Any:
    return page.locator(f".metric[data-metric={key}]")


async def test_an_owner_reads_the_week_against_the_last_and_downloads_the_same_figures(
    clean: None, new_context: Any
) -> None:
    admin_email, _ = await make_workspace_owner("root")
    admin = await make_platform_admin(admin_email)
    owner_email, ws = await make_workspace_owner("shop")
    operator_email = await add_member(ws, Role.OPERATOR, "operator")
    operator = (await auth.login(email=operator_email, password=PASSWORD)).principal
    assistant_id = await create_assistant(ws, "Shop bot")
    week = await seed_week(await owner_principal(ws), operator, admin, assistant_id)
    await rollup.refresh(from_scratch=True)
    await rollup.read_questions()

    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, owner_email)
    await page.goto("/analytics")
    await expect(page.locator("#analytics-cards")).to_be_visible(timeout=60_000)

    until = week.yesterday + timedelta(days=1)
    since = until - timedelta(days=6)
    await page.fill("#analytics-since", since.isoformat())
    await page.fill("#analytics-until", until.isoformat())
    await page.click("#analytics-tz")
    await page.get_by_role("option", name="Europe/Moscow").click()
    await page.click("#analytics-apply")

    conversations = _metric(page, "conversations")
    await expect(conversations.locator(".metric-value")).to_have_text("4")
    await expect(conversations).to_contain_text("before: 1")
    await expect(conversations.locator(".metric-delta")).to_have_text("+300 %")
    await expect(_metric(page, "ai_only_share").locator(".metric-value")).to_have_text("50 %")
    await expect(_metric(page, "ai_first_response").locator(".metric-value")).to_have_text(
        "5 s")
    ai_first = _metric(page, "ai_first_response")
    await expect(ai_first).to_contain_text("before: 10 s")
    await expect(ai_first.locator(".metric-delta")).to_have_text("−50 %")
    await expect(_metric(page, "human_first_response").locator(".metric-value")
                 ).to_have_text("2 min 00 s")
    await expect(_metric(page, "resolution").locator(".metric-value")).to_have_text(
        "20 min 00 s")
    await expect(_metric(page, "csat_ai").locator(".metric-value")).to_have_text("4.50 ★")
    await expect(_metric(page, "csat_human").locator(".metric-value")).to_have_text("2.00 ★")
    await expect(page.locator("#analytics-cost")).to_have_text("0.40 USD")
    await expect(page.locator(".reason-row")).to_have_text(
        ["visitor asked for a human2100 %"])
    timing = page.locator(".timing-row")
    await expect(timing.nth(0)).to_contain_text("7.4 s")  # the AI's 90th percentile
    await expect(timing.nth(2)).to_contain_text("28 min 00 s")  # resolution's
    # The heat map: the four visitors' first messages, yesterday 10-13 h and 00 h today.
    cells = page.locator(".heat-cell[data-count='1']")
    await expect(cells).to_have_count(4)
    await expect(page.locator(".question-row").first).to_be_visible()
    await _snap(page, "week")

    async with page.expect_download() as info:
        await page.click("#csv-summary")
    rows = {r[0]: r for r in csv.reader(io.StringIO(
        Path(await (await info.value).path()).read_text()))}
    assert rows["Conversations"][1:3] == ["4", "1"]
    assert rows["Resolved by the AI alone"][1] == "0.5"
    assert rows["AI first response (median)"][1:3] == ["5", "10"]
    assert rows["Human first response (median)"][1] == "120"
    assert rows["Time to resolution (median)"][1] == "1200"
    assert rows["Rating of AI-only conversations"][1] == "4.5"
    assert rows["AI cost"][1:3] == ["0.40", "0.10"]
    async with page.expect_download() as info:
        await page.click("#csv-days")
    days = list(csv.reader(io.StringIO(Path(await (await info.value).path()).read_text())))
    assert [week.yesterday.isoformat(), "3", "1", "7", "3", "3", "1"] in days

    # The way to what the assistant could not answer: the Knowledge page's list.
    await page.emulate_media(color_scheme="dark")
    await _snap(page, "dark")
    link = page.locator(".unanswered-link").first
    await expect(link).to_have_attribute(
        "href", f"/knowledge?assistant={assistant_id}&tab=gaps&days=7")
    await link.click()
    await page.wait_for_url(at("/knowledge"))
    await expect(page.locator("#gaps-trigger")).to_have_attribute(
        "aria-selected", "true", timeout=30_000)


async def test_another_workspace_and_an_operator_reach_none_of_its_figures(
    clean: None, new_context: Any
) -> None:
    admin_email, _ = await make_workspace_owner("root")
    admin = await make_platform_admin(admin_email)
    _, ws = await make_workspace_owner("shop")
    operator_email = await add_member(ws, Role.OPERATOR, "operator")
    operator = (await auth.login(email=operator_email, password=PASSWORD)).principal
    assistant_id = await create_assistant(ws, "Shop bot")
    await seed_week(await owner_principal(ws), operator, admin, assistant_id)
    await rollup.refresh(from_scratch=True)
    rival_email, _ = await make_workspace_owner("rival")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, rival_email)
    await page.goto("/analytics")
    await expect(_metric(page, "conversations").locator(".metric-value")).to_have_text(
        "0", timeout=60_000)
    await page.click("#analytics-apply")
    for _ in range(400):
        if any(e["name"].endswith(".apply") for e in tap.sent_events()):
            break
        await asyncio.sleep(0.05)  # poll: the click's event reaches the socket
    real = tap.real_event_frame("apply")
    # The shop's assistant named in a crafted event: "not found", not the shop's figures.
    mark = tap.send(tap.craft(real, APPLY, {"form": {
        "since": "2020-01-01", "until": "2020-12-31", "assistant": str(assistant_id),
        "channel": "all", "tz": "UTC"}}))
    await tap.wait_for_reply("not found", after=mark)
    await expect(_metric(page, "conversations").locator(".metric-value")).to_have_text("0")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator_email)
    await page.goto("/analytics")
    await page.wait_for_url(at("/dashboard"))
    real = await _real_frame(page, tap, "Operator")
    mark = tap.send(tap.craft(real, EXPORT, {"table": "summary"}))
    await tap.wait_for_reply("needs the admin role", after=mark)
    assert not [f for f in tap.server_frames if "replyx-analytics" in f]


async def test_a_platform_admin_reads_the_installation_and_a_tenant_cannot(
    clean: None, new_context: Any
) -> None:
    admin_email, _ = await make_workspace_owner("root")
    await make_platform_admin(admin_email)
    owner_email, ws = await make_workspace_owner("shop")
    assistant_id = await create_assistant(ws, "Shop bot")
    await ask(await contact_actor(ws, assistant_id, "widget", "v-1"), "Where is my order?")
    await rollup.refresh(from_scratch=True)

    page = await (await new_context()).new_page()
    await sign_in(page, admin_email)
    await page.goto("/admin/analytics")
    totals = page.locator(".platform-total")
    await expect(totals).to_have_count(4, timeout=60_000)
    await expect(totals.nth(0)).to_contain_text("Sign-ups2")
    await expect(totals.nth(2)).to_contain_text("Messages2")
    await expect(totals.nth(3)).to_contain_text("Active workspaces1")
    await expect(page.get_by_text("shop workspace").first).to_be_visible()
    await _snap(page, "platform")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, owner_email)
    await page.goto("/admin/analytics")
    await page.wait_for_url(at("/dashboard"))
    real = await _real_frame(page, tap, "Shop")
    mark = tap.send(tap.craft(real, PLATFORM_APPLY, {"form": {
        "since": "2026-01-01", "until": "2026-01-31"}}))
    await tap.wait_for_reply("Only platform administrators", after=mark)
