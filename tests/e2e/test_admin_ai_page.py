"""AI providers page (platform admins): add a key that is never shown again, turn it off and
on, delete it; see cooldowns and disable reasons the pool set; nobody else gets in."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.async_api import expect
from sqlmodel import select

from backend_services.ai.pool import close_clients
from backend_services.core.db import session_scope
from backend_services.core.security import decrypt_secret
from backend_services.models import AIProviderKey
from tests.e2e.helpers import (
    SocketTap,
    add_provider_key,
    add_qa_pair,
    at,
    create_assistant,
    make_platform_admin,
    make_workspace_owner,
    nav_labels,
    sign_in,
)
from tests.support.openai_server import OpenAITestServer, QuotaExhausted, RateLimit

SECRET = "sk-test-SECRET-1234"


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-knowledge-{name}.png", full_page=True)


@pytest.fixture
async def openai_server() -> AsyncIterator[OpenAITestServer]:
    """The fake OpenAI API on a real 127.0.0.1 port: the app's process calls it."""
    srv = OpenAITestServer()
    await srv.start()
    yield srv
    await close_clients()
    await srv.stop()


async def _admin_page(new_context: Any) -> tuple[Any, str, int]:
    """A workspace owner who is also a platform admin, signed in (light mode)."""
    email, workspace_id = await make_workspace_owner("root")
    await make_platform_admin(email)
    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, email)
    return page, email, workspace_id


async def test_platform_admin_adds_a_key_that_is_never_shown_again(
    clean: None, new_context: Any, openai_server: OpenAITestServer
) -> None:
    page, email, _ = await _admin_page(new_context)
    tap = await SocketTap().install(page)
    assert "AI providers" in await nav_labels(page)
    await page.goto("/admin/ai")
    await expect(page.locator("#page-title")).to_have_text("AI providers")
    await expect(page.get_by_text("No provider configured")).to_be_visible()

    await page.fill("#name", "Fake OpenAI")
    await page.fill("#base_url", openai_server.base_url)
    await page.fill("#ai-api-key", SECRET)
    await page.fill("#models", "gpt-4o-mini, gpt-4o")
    await page.click("#ai-add")
    await expect(page.get_by_text("Key added.")).to_be_visible()

    rows = page.locator(".ai-key-row")
    await expect(rows).to_have_count(1)
    row = rows.first
    await expect(row).to_contain_text("Fake OpenAI")
    await expect(row).to_contain_text(openai_server.base_url)
    await expect(row).to_contain_text("key …1234")
    await expect(row).to_contain_text("gpt-4o-mini, gpt-4o")
    await expect(row).to_contain_text("60 req/min · 100,000 tok/min")
    await expect(row).to_contain_text("0 req · 0 tok · 0 errors")
    await expect(row.locator(".rt-Badge")).to_have_text("active")
    await expect(page.locator("#ai-api-key")).to_have_value("")
    await _snap(page, "ai-key-added")

    # The secret is in no page, no server frame, not in the database in clear text.
    assert "sk-test-SECRET" not in await page.content()
    assert not [f for f in tap.server_frames if "sk-test-SECRET" in f]
    await page.reload()
    await expect(rows).to_have_count(1)
    assert "sk-test-SECRET" not in await page.content()
    async with session_scope() as session:
        stored = (await session.exec(select(AIProviderKey))).one()
    assert SECRET not in stored.api_key_encrypted and stored.key_hint == "…1234"
    assert stored.models == ["gpt-4o-mini", "gpt-4o"]

    # Disable: the state says so, with who did it; enable: active again, reason gone.
    await row.get_by_role("button", name="Disable").click()
    await expect(row.locator(".rt-Badge")).to_have_text("disabled")
    await expect(row).to_contain_text(f"Turned off by {email}")
    await row.get_by_role("button", name="Enable").click()
    await expect(row.locator(".rt-Badge")).to_have_text("active")
    await expect(row).not_to_contain_text("Turned off by")
    await expect(row.get_by_role("button", name="Disable")).to_be_visible()

    # Delete: the row goes, and the page explains the fallback again.
    await row.get_by_role("button", name="Delete key").click()
    confirm = page.get_by_role("alertdialog")
    await expect(confirm).to_contain_text("Delete this key?")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(confirm).to_be_hidden()
    await expect(rows).to_have_count(1)  # nothing deleted without the confirmation
    await row.get_by_role("button", name="Delete key").click()
    await page.click("#confirm-delete")
    await expect(page.get_by_text("Key deleted.")).to_be_visible()
    await expect(rows).to_have_count(0)
    await expect(page.get_by_text("No provider configured")).to_be_visible()
    async with session_scope() as session:
        assert (await session.exec(select(AIProviderKey))).all() == []
    assert "sk-test-SECRET" not in await page.content()
    assert not [f for f in tap.server_frames if "sk-test-SECRET" in f]


async def test_admin_sees_a_clear_error_for_a_bad_base_url(
    clean: None, new_context: Any
) -> None:
    page, _, _ = await _admin_page(new_context)
    await page.goto("/admin/ai")
    await page.fill("#name", "Local")
    await page.fill("#base_url", "file:///etc/passwd")
    await page.fill("#ai-api-key", SECRET)
    await page.click("#ai-add")
    await expect(page.locator("#form-error")).to_contain_text(
        "The base URL must start with http:// or https://")
    await expect(page.locator(".ai-key-row")).to_have_count(0)
    assert "sk-test-SECRET" not in await page.content()


async def test_key_cooldown_and_disable_reason_are_visible(
    clean: None, new_context: Any, openai_server: OpenAITestServer
) -> None:
    page, email, workspace_id = await _admin_page(new_context)
    admin = await make_platform_admin(email)
    first = await add_provider_key(admin, openai_server.base_url, "sk-e2e-first-0001",
                                   name="First key")
    second = await add_provider_key(admin, openai_server.base_url, "sk-e2e-second-0002",
                                    name="Second key")
    openai_server.script(RateLimit(retry_after="600"), key="sk-e2e-first-0001")
    openai_server.script(QuotaExhausted(), key="sk-e2e-second-0002")
    assistant_id = await create_assistant(workspace_id, "Help desk")
    await add_qa_pair(workspace_id, assistant_id, "Do you ship to Iceland?",
                      "Yes, DHL delivers to Iceland in 3 working days.")

    # One answer in the test chat: the pool tries both keys, both fail, and the assistant
    # still answers from the Q&A pair.
    await page.goto("/knowledge")
    await page.fill("#chat-question", "Do you ship to Iceland?")
    await page.click("#chat-ask")
    await expect(page.locator("#chat-mode")).to_have_text("qa", timeout=60_000)
    await expect(page.locator("#chat-answer")).to_have_text(
        "Yes, DHL delivers to Iceland in 3 working days.")
    assert [c.key for c in openai_server.calls()] == ["sk-e2e-first-0001", "sk-e2e-second-0002"]

    # The admin page shows what happened to each key.
    await page.goto("/admin/ai")
    rows = page.locator(".ai-key-row")
    await expect(rows).to_have_count(2)
    cooling = rows.filter(has_text="First key")
    disabled = rows.filter(has_text="Second key")
    await expect(cooling.locator(".rt-Badge")).to_have_text("cooling down")
    await expect(cooling).to_contain_text("until ")
    await expect(cooling).to_contain_text("1 req · 0 tok · 1 error")
    await expect(cooling.get_by_role("button", name="Disable")).to_be_visible()
    await expect(disabled.locator(".rt-Badge")).to_have_text("disabled")
    await expect(disabled).to_contain_text("quota is exhausted (insufficient_quota)")
    await expect(disabled).to_contain_text("1 req · 0 tok · 1 error")
    await expect(disabled.get_by_role("button", name="Enable")).to_be_visible()
    await _snap(page, "ai-keys-states")

    # The cooldown shown is the provider's retry-after (600 s), as stored.
    async with session_scope() as session:
        row_first = await session.get(AIProviderKey, first)
        row_second = await session.get(AIProviderKey, second)
    assert row_first is not None and row_first.cooldown_until is not None
    assert row_first.is_enabled
    assert row_second is not None and not row_second.is_enabled
    remaining = (row_first.cooldown_until - datetime.now(UTC)).total_seconds()
    assert 500 < remaining <= 600, remaining
    await expect(cooling).to_contain_text(
        f"until {row_first.cooldown_until.astimezone(UTC).strftime('%H:%M:%S')}")

    # Enabling the quota key clears its reason: the admin says "try it again now".
    await disabled.get_by_role("button", name="Enable").click()
    await expect(disabled.locator(".rt-Badge")).to_have_text("active")
    await expect(disabled).not_to_contain_text("insufficient_quota")


async def test_non_admin_cannot_open_the_ai_providers_page(
    clean: None, new_context: Any
) -> None:
    email, _ = await make_workspace_owner("owner")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, email)
    assert "AI providers" not in await nav_labels(page)
    await page.goto("/admin/ai")
    await page.wait_for_url(at("/dashboard"))
    await expect(page.locator("#page-title")).to_have_text("Overview")
    await expect(
        page.get_by_text("Only platform administrators can open that page.").first
    ).to_be_visible()
    await expect(page.locator(".ai-key-row")).to_have_count(0)
    assert not [f for f in tap.server_frames if "ai-key" in f or "key_hint" in f]


async def test_admin_edits_and_rotates_a_key_in_place(
    clean: None, new_context: Any, openai_server: OpenAITestServer
) -> None:
    page, email, _ = await _admin_page(new_context)
    admin = await make_platform_admin(email)
    key_id = await add_provider_key(admin, openai_server.base_url, SECRET, name="Main")
    tap = await SocketTap().install(page)
    await page.goto("/admin/ai")
    row = page.locator(".ai-key-row")
    await expect(row).to_contain_text("priority 100")
    await row.locator(".ai-key-edit").click()
    await expect(page.locator("#edit-name")).to_have_value("Main")
    await expect(page.locator("#edit-api-key")).to_have_value("")
    await page.fill("#edit-priority", "5")
    await page.fill("#edit-daily-quota", "1000")
    await page.fill("#edit-api-key", "sk-test-ROTATED-000000005678")
    await _snap(page, "ai-key-edit")
    await page.click("#edit-save")
    await expect(page.get_by_text("Key rotated and saved.")).to_be_visible()
    await expect(row).to_contain_text("key …5678 · priority 5")
    await expect(row).to_contain_text("today 0 of 1,000")
    async with session_scope() as session:
        stored = await session.get(AIProviderKey, key_id)
    assert stored is not None and stored.priority == 5 and stored.daily_token_quota == 1000
    assert decrypt_secret(stored.api_key_encrypted) == "sk-test-ROTATED-000000005678"
    assert not [f for f in tap.server_frames if "ROTATED" in f or "SECRET" in f]

    # A bad value keeps the dialog open with the reason; nothing changes.
    await row.locator(".ai-key-edit").click()
    await page.fill("#edit-priority", "5000")
    await page.click("#edit-save")
    await expect(page.locator("#edit-error")).to_contain_text("between 0")
    async with session_scope() as session:
        again = await session.get(AIProviderKey, key_id)
    assert again is not None and again.priority == 5
