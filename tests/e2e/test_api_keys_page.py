"""API keys in the browser: made with scopes, shown once, used by a script, listed with
its last use, revoked; an operator can neither open the page nor make a key by a crafted
event."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from backend_services.models import Role
from state.api_keys import ApiKeysState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    at,
    make_workspace_owner,
    save_profile,
    sign_in,
    snap,
)

KEYS = ApiKeysState.get_full_name()


async def test_an_admin_makes_a_key_a_script_uses_it_then_it_is_revoked(
    clean: None, new_context: Any, app_server: Any
) -> None:
    owner, _ = await make_workspace_owner("acme")
    page = await (await new_context()).new_page()
    await sign_in(page, owner)
    await page.goto("/api-keys")
    await expect(page.get_by_text("No API key yet.")).to_be_visible()
    await page.fill("#api-key-name", "CRM sync")
    await page.locator("#scope-knowledge").click()
    await page.click("#api-key-create")
    token_box = page.locator("#new-api-key")
    await expect(token_box).to_contain_text("rxk_")
    token = (await token_box.inner_text()).strip()
    await snap(page, "api-key-created")
    await page.click("#api-key-done")
    await expect(token_box).to_have_count(0)
    assert token not in await page.content()

    async with httpx.AsyncClient(base_url=app_server.url) as script:
        r = await script.get("/api/v1/assistants", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        r = await script.post("/api/v1/dialogs/1/close", json={},
                              headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403  # read + knowledge only

    await page.reload()
    row = page.locator(".api-key-row", has_text="CRM sync")
    await expect(row).to_contain_text("read, knowledge")
    await expect(row).to_contain_text(token[:16])
    await expect(row).not_to_contain_text("never")
    await row.get_by_role("button", name="Revoke").click()
    await expect(page.get_by_text("Key revoked")).to_be_visible()
    await expect(row).to_contain_text("revoked")
    async with httpx.AsyncClient(base_url=app_server.url) as script:
        r = await script.get("/api/v1/assistants", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401


async def test_an_operator_cannot_open_the_page_or_make_a_key(
    clean: None, new_context: Any
) -> None:
    _, workspace_id = await make_workspace_owner("acme")
    operator = await add_member(workspace_id, Role.OPERATOR, "oleg")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)
    await page.goto("/api-keys")
    await page.wait_for_url(at("/dashboard"))
    await page.get_by_role("link", name="Settings").click()
    await save_profile(page)
    real = tap.real_event_frame("save_profile")
    mark = tap.send(tap.craft(real, f"{KEYS}.create",
                              {"form": {"name": "sneaky", "scope_read": "on"}}))
    await tap.wait_for_reply("This needs the admin role or higher.", after=mark)
