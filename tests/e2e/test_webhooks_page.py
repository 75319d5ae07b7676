"""Webhooks in the browser: an endpoint added with its events, its secret shown once, a
test event sent by the jobs side to a real receiver and seen in the delivery log with the
receiver's answer; an operator's crafted event makes no webhook."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import expect
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.core.settings import reset_settings_cache
from backend_services.integrations import webhook_delivery
from backend_services.models import Role, WebhookEndpoint
from state.webhooks import WebhooksState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    make_workspace_owner,
    save_profile,
    sign_in,
    snap,
)
from tests.support.webhook_receiver import webhook_receiver

HOOKS = WebhooksState.get_full_name()


async def test_an_admin_adds_a_webhook_and_sees_the_test_event_delivered(
    clean: None, new_context: Any, env: pytest.MonkeyPatch
) -> None:
    env.setenv("REPLYX_CRAWL_ALLOW_PRIVATE", "true")  # this process delivers to 127.0.0.1
    reset_settings_cache()
    owner, workspace_id = await make_workspace_owner("acme")
    page = await (await new_context()).new_page()
    await sign_in(page, owner)
    async with webhook_receiver() as receiver:
        await page.goto("/webhooks")
        await expect(page.get_by_text("No webhook yet.")).to_be_visible()
        await page.fill("#webhook-url", receiver.url)
        await page.fill("#webhook-description", "CRM")
        await page.locator("#event-message\\.created").click()  # all but messages
        await page.click("#webhook-create")
        secret_box = page.locator("#webhook-secret")
        await expect(secret_box).to_contain_text("whsec_")
        secret = (await secret_box.inner_text()).strip()
        await page.click("#webhook-secret-done")
        await expect(secret_box).to_have_count(0)
        row = page.locator(".webhook-row")
        await expect(row).to_contain_text(receiver.url)
        await expect(row).not_to_contain_text("message.created")
        async with session_scope() as s:
            stored = (await s.exec(select(WebhookEndpoint))).one()
        assert stored.workspace_id == workspace_id and secret not in stored.secret_encrypted

        await row.get_by_role("button", name="Send test event").click()
        await expect(page.get_by_text("Test event queued")).to_be_visible()
        await expect(page.locator(".delivery-row")).to_contain_text("pending")
        assert await webhook_delivery.deliver_due() == 1  # what the jobs process does
        [got] = receiver.received
        assert json.loads(got.body)["type"] == "test"
        assert got.headers["x-replyx-signature"].startswith("t=")
        await page.get_by_role("button", name="Refresh").click()
        log = page.locator(".delivery-row")
        await expect(log).to_contain_text("delivered")
        await expect(log).to_contain_text("200")
        await snap(page, "webhooks")
        assert secret not in await page.content()


async def test_an_operator_cannot_add_a_webhook_with_a_crafted_event(
    clean: None, new_context: Any
) -> None:
    _, workspace_id = await make_workspace_owner("acme")
    operator = await add_member(workspace_id, Role.OPERATOR, "oleg")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)
    await page.get_by_role("link", name="Settings").click()
    await save_profile(page)
    real = tap.real_event_frame("save_profile")
    mark = tap.send(tap.craft(real, f"{HOOKS}.create", {"form": {
        "url": "https://evil.example.com/x", "event_dialog.created": "on"}}))
    await tap.wait_for_reply("This needs the admin role or higher.", after=mark)
    async with session_scope() as s:
        assert (await s.exec(select(WebhookEndpoint))).all() == []
