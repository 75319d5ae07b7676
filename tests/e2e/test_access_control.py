"""Roles and tenants hold at every door: pages, crafted websocket events and the REST API."""

from __future__ import annotations

from typing import Any

import httpx
from playwright.async_api import expect

from backend_services.models import Role
from state.assistants import AssistantsState
from state.settings import SettingsState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    at,
    create_assistant,
    find_assistant,
    make_workspace_owner,
    nav_labels,
    save_profile,
    session_cookie,
    sign_in,
)

DELETE = AssistantsState.get_full_name() + ".delete"
OPEN_EDIT = AssistantsState.get_full_name() + ".open_edit"
NEEDS_ADMIN = "This needs the admin role or higher."


async def test_operator_cannot_open_owner_pages(clean: None, new_context: Any) -> None:
    _, workspace_id = await make_workspace_owner()
    await create_assistant(workspace_id, "Secret sauce bot")
    operator = await add_member(workspace_id, Role.OPERATOR, "operator")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)

    labels = await nav_labels(page)
    assert {"Overview", "Dialogs", "Operator console", "Settings"} <= set(labels), labels
    hidden = {"Assistants", "Team", "Billing", "Knowledge", "Channels", "Analytics"}
    assert not hidden & set(labels), labels

    for path, title in (("/assistants", "Assistants"), ("/team", "Team")):
        await page.goto(path)
        await page.wait_for_url(at("/dashboard"))
        await expect(page.locator("#page-title")).to_have_text("Overview")
        await expect(page.get_by_text("That page needs the admin role.").first).to_be_visible()
        await expect(page.get_by_text("Secret sauce bot")).to_have_count(0)
        labels = await nav_labels(page)
        assert title not in labels, labels

    # Nothing of the owner-only data reached this browser, not even hidden in state.
    assert not [f for f in tap.server_frames if "Secret sauce bot" in f]


async def test_operator_cannot_call_owner_event_handlers_over_the_socket(
    clean: None, new_context: Any
) -> None:
    owner, workspace_id = await make_workspace_owner()
    assistant_id = await create_assistant(workspace_id, "Keep me")
    operator = await add_member(workspace_id, Role.OPERATOR, "operator")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)

    # A real event from this page, to copy the wire format from.
    await page.goto("/settings")
    await expect(page.locator("#name")).to_have_value("Operator")
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    real = tap.real_event_frame("save_profile")
    assert SettingsState.get_full_name() + ".save_profile" in [e["name"] for e in
                                                                tap.sent_events()]

    # The operator crafts a call to the owner-only delete handler: refused, nothing deleted.
    frame = tap.craft(real, DELETE, {"assistant_id": assistant_id})
    reply = await tap.wait_for_reply(NEEDS_ADMIN, after=tap.send(frame))
    assert "Assistant deleted." not in reply
    await expect(page.get_by_text(NEEDS_ADMIN).first).to_be_visible()
    assert await find_assistant(assistant_id) is not None

    # Nor can the operator read the assistant through the editor handler.
    mark = tap.send(tap.craft(real, OPEN_EDIT, {"assistant_id": assistant_id}))
    await tap.wait_for_reply(NEEDS_ADMIN, after=mark)
    assert not [f for f in tap.server_frames[mark:] if "Keep me" in f]

    # The very same frame from the owner's page does delete: the probe is able to fail.
    owner_page = await (await new_context()).new_page()
    owner_tap = await SocketTap().install(owner_page)
    await sign_in(owner_page, owner)
    await owner_tap.wait_for_reply("Assistant deleted.", after=owner_tap.send(frame))
    await expect(owner_page.get_by_text("Assistant deleted.")).to_be_visible()
    assert await find_assistant(assistant_id) is None


async def test_user_of_workspace_a_cannot_touch_workspace_b_assistant(
    clean: None, new_context: Any, app_server: Any
) -> None:
    owner_a, workspace_a = await make_workspace_owner("alpha")
    _, workspace_b = await make_workspace_owner("bravo")
    a_id = await create_assistant(workspace_a, "Alpha bot")
    b_id = await create_assistant(workspace_b, "Bravo private bot")

    context = await new_context()
    page = await context.new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, owner_a)
    await page.goto("/assistants")
    rows = page.locator(".assistant-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("Alpha bot")

    # Open A's own assistant for real, to copy the frame, then close the editor.
    await rows.first.get_by_role("button", name="Edit").click()
    await expect(page.locator("#name")).to_have_value("Alpha bot")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_be_hidden()
    real = tap.real_event_frame("open_edit")
    assert OPEN_EDIT in [e["name"] for e in tap.sent_events()]

    # Crafted events with B's id: "not found", B's data never reaches A's browser.
    mark = tap.send(tap.craft(real, OPEN_EDIT, {"assistant_id": b_id}))
    await tap.wait_for_reply("Assistant not found.", after=mark)
    await expect(page.get_by_text("Assistant not found.").first).to_be_visible()
    await expect(page.get_by_role("dialog")).to_be_hidden()
    mark = tap.send(tap.craft(real, DELETE, {"assistant_id": b_id}))
    await tap.wait_for_reply("Assistant not found.", after=mark)
    assert not [f for f in tap.server_frames if "Bravo private bot" in f]
    await expect(page.get_by_text("Bravo private bot")).to_have_count(0)
    kept = await find_assistant(b_id)
    assert kept is not None and kept.name == "Bravo private bot"

    # REST with A's session cookie: B's assistant does not exist for A.
    cookie = await session_cookie(context)
    async with httpx.AsyncClient(base_url=app_server.url,
                                 cookies={cookie["name"]: cookie["value"]}) as http:
        own = await http.get(f"/api/v1/assistants/{a_id}")
        assert own.status_code == 200 and own.json()["name"] == "Alpha bot"  # cookie works
        listed = await http.get("/api/v1/assistants")
        assert listed.status_code == 200
        assert [a["id"] for a in listed.json()] == [a_id]

        got = await http.get(f"/api/v1/assistants/{b_id}")
        assert got.status_code == 404, got.text
        put = await http.put(f"/api/v1/assistants/{b_id}", json={"name": "Pwned"})
        assert put.status_code == 404, put.text
        deleted = await http.delete(f"/api/v1/assistants/{b_id}",
                                    headers={"X-Requested-With": "test"})
        assert deleted.status_code == 404, deleted.text
        assert "Bravo" not in got.text + put.text + deleted.text

    kept = await find_assistant(b_id)
    assert kept is not None and kept.name == "Bravo private bot"
