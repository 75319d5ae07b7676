"""A whole conversation as the issue describes it, on the real app with two web workers.

A tenant's page on another site (`localhost` vs the app's `127.0.0.1`: a different site,
so Chromium's default profile blocks the iframe's third-party storage) embeds the snippet;
the visitor asks, the AI (the OpenAI-compatible test server) streams an answer with its
source; the visitor asks for a human; an operator in a second browser context sees the
conversation arrive in the queue without reloading, takes it over and replies; the visitor
sees the reply live; the operator hands back to the AI; the visitor ends the chat and rates
it, and the rating is recorded against human handling.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest_asyncio
from playwright.async_api import expect
from sqlmodel import col, select

from backend_services.ai.pool import close_clients
from backend_services.conversations import canned
from backend_services.core.db import session_scope
from backend_services.models import Dialog, HandoffEvent, Message, Role
from backend_services.widget import settings as widget
from backend_services.widget.settings import WidgetInput
from tests.e2e.helpers import (
    add_member,
    add_provider_key,
    add_qa_pair,
    create_assistant,
    make_platform_admin,
    make_workspace_owner,
    owner_principal,
    sign_in,
)
from tests.e2e.test_widget_loader import HostSite, host_site  # noqa: F401  (fixture)
from tests.support.openai_server import OpenAITestServer, Reply

LIVE = 30_000  # ms: a change made in one browser, seen in another, through two workers


async def _snap(page: Any, name: str) -> None:
    """Screenshots to look at (E2E_SCREENSHOTS=1), light and dark."""
    if os.environ.get("E2E_SCREENSHOTS"):
        for scheme in ("light", "dark"):
            await page.emulate_media(color_scheme=scheme)
            await page.screenshot(path=f"/tmp/e2e-live-{name}-{scheme}.png")
        await page.emulate_media(color_scheme="light")


@pytest_asyncio.fixture
async def provider() -> AsyncIterator[OpenAITestServer]:
    srv = OpenAITestServer()
    await srv.start()
    yield srv
    await close_clients()
    await srv.stop()


async def _shop(app_url: str, site: HostSite, provider: OpenAITestServer) -> tuple[
        int, int, str]:
    """A workspace whose assistant knows refunds and whose widget may load on `site`."""
    email, ws = await make_workspace_owner("shop")
    admin = await make_platform_admin(email)
    await add_provider_key(admin, provider.base_url, "sk-live-test-0001")
    assistant_id = await create_assistant(ws, "Shop helper")
    await add_qa_pair(ws, assistant_id, "How long do refunds take?",
                      "Refunds reach your card within five working days.")
    view = await widget.update_settings(await owner_principal(ws), assistant_id, WidgetInput(
        title="Shop support", allowed_origins=(site.origin,)))
    site.html = ("<!doctype html><html><head><title>Shop</title></head><body><h1>Shop</h1>"
                 + widget.snippet(app_url, view.public_id) + "</body></html>")
    return ws, assistant_id, email


def _localhost(site: HostSite) -> None:
    """Serve the host page as http://localhost:<port>: another *site* than 127.0.0.1."""
    site.origin = site.origin.replace("127.0.0.1", "localhost")


async def _open_widget(new_context: Callable[[], Any], site: HostSite) -> tuple[Any, Any]:
    page = await (await new_context()).new_page()
    await page.goto(site.origin + "/")
    await page.get_by_role("button", name="Open chat").click()
    return page, page.frame_locator("iframe")


async def _messages(workspace_id: int) -> list[str]:
    async with session_scope() as session:
        rows = await session.exec(select(Message.content).where(
            Message.workspace_id == workspace_id))
        return [str(c) for c in rows]


async def test_visitor_ai_operator_and_back_in_one_live_conversation(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
    provider: OpenAITestServer,
) -> None:
    site = host_site()
    _localhost(site)
    ws, _, _ = await _shop(app_server.url, site, provider)
    operator_email = await add_member(ws, Role.OPERATOR, "olga")

    # The operator opens the console first: the queue is empty.
    console = await (await new_context()).new_page()
    await sign_in(console, operator_email)
    await console.goto("/console")
    await expect(console.locator("#queue-count")).to_have_text("0", timeout=LIVE)

    # The visitor asks; the answer streams in with its source.
    provider.script(Reply(chunks=("Refunds ", "reach your card ", "within five ",
                                  "working days [1].")))
    chat_page, chat = await _open_widget(new_context, site)
    await expect(chat.locator("#widget-title")).to_have_text("Shop support", timeout=LIVE)
    await chat.locator("#widget-input").fill("How long do refunds take?")
    await chat.locator("#widget-input").press("Enter")
    await expect(chat.locator(".message-visitor")).to_have_count(1, timeout=LIVE)
    answer = chat.locator(".message-ai").last
    await expect(answer).to_contain_text("within five working days [1].", timeout=LIVE)
    await answer.locator("summary").click()
    await expect(answer.locator(".message-sources")).to_contain_text(
        "How long do refunds take?")

    # History survives a reload of the tenant's page (the visitor's credential lives in
    # the host page's own storage; the iframe's storage is blocked as third-party).
    await chat_page.reload()
    await chat_page.get_by_role("button", name="Open chat").click()
    chat = chat_page.frame_locator("iframe")
    await expect(chat.locator(".message-ai").last).to_contain_text(
        "within five working days [1].", timeout=LIVE)
    await expect(chat.locator(".message-visitor")).to_have_count(1)

    # The visitor asks for a human: the conversation appears in the operator's queue live.
    await chat.locator("#widget-human").click()
    await expect(chat.locator("#widget-status")).to_contain_text("Waiting", timeout=LIVE)
    await expect(console.locator("#queue-count")).to_have_text("1", timeout=LIVE)
    row = console.locator(".inbox-row").first
    await expect(row).to_contain_text("waiting")
    await row.click()
    await expect(console.locator("#console-messages")).to_contain_text(
        "within five working days", timeout=LIVE)

    # Take over and reply: the visitor sees the operator join and the reply, live.
    await console.locator("#take-over").click()
    await expect(console.locator("#hand-back")).to_be_visible(timeout=LIVE)
    await expect(chat.locator("#widget-status")).to_have_text("Olga", timeout=LIVE)
    await console.locator("#console-input").focus()
    await expect(chat.locator(".typing-indicator")).to_contain_text("Olga", timeout=LIVE)
    await console.locator("#console-input").fill("Hi, Olga here. I see your refund is on its way.")
    await console.locator("#console-send").click()
    await expect(chat.locator(".message-operator")).to_contain_text(
        "Olga here", timeout=LIVE)
    await expect(chat.locator(".typing-indicator")).to_have_count(0, timeout=LIVE)
    await expect(console.locator("#sla-first-reply")).not_to_have_text("—", timeout=LIVE)
    await _snap(console, "console")
    await _snap(chat_page, "widget")

    # "/shortcut" + Enter puts the canned reply in the box to read first; an unknown one
    # says so; neither reaches the visitor as typed.
    await canned.create_canned(await owner_principal(ws), "bank", "Bank delay",
                               "Banks take up to five working days to show a refund.")
    await console.locator("#console-input").fill("/bank")
    await console.locator("#console-input").press("Enter")
    await expect(console.locator("#console-input")).to_have_value(
        "Banks take up to five working days to show a refund.", timeout=LIVE)
    await console.locator("#console-input").fill("/nope")
    await console.locator("#console-input").press("Enter")
    await expect(console.get_by_text("No canned response is called /nope.")).to_be_visible()
    await console.locator("#console-input").fill("")
    assert not [m for m in await _messages(ws) if m.startswith("/")]

    # An internal note never reaches the visitor.
    await console.locator("#composer-mode").get_by_role("radio", name="Internal note").click()
    await console.locator("#console-input").fill("Customer seems happy; check the bank.")
    await console.locator("#console-send").click()
    await expect(console.get_by_text("Customer seems happy")).to_be_visible(timeout=LIVE)

    # Hand back to the AI: the visitor is told, and the AI answers the next question again.
    await console.locator("#hand-back").click()
    await expect(chat.locator("#widget-status")).to_contain_text("AI", timeout=LIVE)
    provider.script(Reply(text="Five working days [1]."))
    await chat.locator("#widget-input").fill("And how long was that again?")
    await chat.locator("#widget-input").press("Enter")
    await expect(chat.locator(".message-ai").last).to_contain_text("Five working days",
                                                                   timeout=LIVE)

    # The visitor ends the chat and rates it; the rating counts for human handling.
    await chat.locator("#widget-end").click()
    await chat.locator("#widget-rating .rate-5").click()
    await expect(chat.locator("#widget-thanks")).to_be_visible(timeout=LIVE)
    await expect(chat.get_by_text("Customer seems happy")).to_have_count(0)

    async with session_scope() as s:
        [dialog] = (await s.exec(select(Dialog))).all()
        texts = [m.content for m in (await s.exec(
            select(Message).order_by(col(Message.id)))).all()]
        moves = [(e.from_state, e.to_state) for e in (await s.exec(
            select(HandoffEvent).order_by(col(HandoffEvent.id)))).all()]
    assert (dialog.status, dialog.rating, dialog.rated_handler) == ("closed", 5, "human")
    assert texts.count("How long do refunds take?") == 1  # one row per visitor message
    assert ("ai", "requested") in moves and ("requested", "active") in moves
    assert ("active", "ai") in moves and moves[-1][1] == "closed"
