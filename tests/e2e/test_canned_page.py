"""Canned responses page: an admin creates, edits and deletes the workspace's saved replies;
operators and other workspaces cannot change them, not even with crafted socket events."""

from __future__ import annotations

import os
from typing import Any

from playwright.async_api import expect

from backend_services.conversations import canned
from backend_services.conversations.canned import CannedView
from backend_services.models import Role
from state.canned_responses import CannedResponsesState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    at,
    make_workspace_owner,
    nav_labels,
    owner_principal,
    save_profile,
    sign_in,
)

SAVE = CannedResponsesState.get_full_name() + ".save"
DELETE = CannedResponsesState.get_full_name() + ".delete"
OPEN_EDIT = CannedResponsesState.get_full_name() + ".open_edit"
NEEDS_ADMIN = "This needs the admin role or higher."
NOT_FOUND = "Canned response not found."


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-canned-{name}.png", full_page=True)


async def _stored(workspace_id: int) -> list[CannedView]:
    return await canned.list_canned(await owner_principal(workspace_id))


async def _add(workspace_id: int, shortcut: str, title: str, body: str) -> int:
    view = await canned.create_canned(await owner_principal(workspace_id), shortcut, title, body)
    return view.id


async def _admin_on_canned_page(new_context: Any, prefix: str = "owner") -> tuple[Any, int]:
    email, workspace_id = await make_workspace_owner(prefix)
    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, email)
    await page.goto("/canned")
    await expect(page.locator("#page-title")).to_have_text("Canned responses")
    return page, workspace_id


def _row(page: Any, shortcut: str) -> Any:
    return page.locator(".canned-row").filter(has_text=f"/{shortcut}")


async def test_admin_creates_edits_and_deletes_a_canned_response(
    clean: None, new_context: Any
) -> None:
    page, workspace_id = await _admin_on_canned_page(new_context)
    assert "Canned responses" in await nav_labels(page)
    await expect(page.locator("#canned-empty")).to_contain_text("No canned responses yet.",
                                                                timeout=60_000)
    await _snap(page, "empty-light")

    # Create: a typed "/" and capitals are tidied by the service; Enter saves.
    await page.click("#new-canned")
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("heading")).to_have_text("New canned response")
    await expect(page.locator("#shortcut")).to_be_focused()
    await page.fill("#shortcut", "/Refund")
    await page.fill("#body", "You can return any item within 30 days.\nKeep the receipt.")
    await page.fill("#title", "Refund policy")
    await page.press("#title", "Enter")
    await expect(page.get_by_text("Saved /refund.")).to_be_visible()
    await expect(dialog).to_be_hidden()
    await expect(_row(page, "refund")).to_contain_text("Refund policy")
    await expect(_row(page, "refund")).to_contain_text("within 30 days")
    assert [(c.shortcut, c.title, c.body) for c in await _stored(workspace_id)] == [
        ("refund", "Refund policy", "You can return any item within 30 days.\nKeep the receipt.")]

    # A bad shortcut and a taken one: the service's message, in the dialog; nothing saved.
    await page.click("#new-canned")
    await page.fill("#shortcut", "two words")
    await page.fill("#body", "Hello!")
    await page.click("#canned-save")
    await expect(dialog.locator("#form-error")).to_contain_text("A shortcut is 1–32 letters")
    await page.fill("#shortcut", "refund")
    await page.click("#canned-save")
    await expect(dialog.locator("#form-error")).to_have_text(
        "A canned response with this shortcut already exists.")
    await expect(page.locator("#body")).to_have_value("Hello!")
    await _snap(page, "error-light")
    await page.emulate_media(color_scheme="dark")
    await _snap(page, "error-dark")
    await page.emulate_media(color_scheme="light")
    await page.fill("#shortcut", "hello")
    await page.click("#canned-save")
    await expect(page.get_by_text("Saved /hello.")).to_be_visible()
    await expect(page.locator(".canned-row")).to_have_count(2)
    assert len(await _stored(workspace_id)) == 2

    # Edit: the dialog opens with the stored values; saving changes that response only.
    await _row(page, "refund").get_by_role("button", name="Edit").click()
    await expect(dialog.get_by_role("heading")).to_have_text("Edit canned response")
    await expect(page.locator("#shortcut")).to_have_value("refund")
    await expect(page.locator("#title")).to_have_value("Refund policy")
    await page.fill("#body", "Returns are free within 60 days.")
    await page.click("#canned-save")
    await expect(page.get_by_text("Saved /refund.")).to_be_visible()
    await expect(_row(page, "refund")).to_contain_text("within 60 days")
    await expect(page.locator(".canned-row")).to_have_count(2)
    stored = {c.shortcut: c.body for c in await _stored(workspace_id)}
    assert stored == {"refund": "Returns are free within 60 days.", "hello": "Hello!"}
    await _snap(page, "table-light")
    await page.emulate_media(color_scheme="dark")
    await _snap(page, "table-dark")
    await page.emulate_media(color_scheme="light")

    # Delete asks first; Cancel keeps it, Delete removes it.
    await _row(page, "hello").get_by_role("button", name="Delete").click()
    confirm = page.get_by_role("alertdialog")
    await expect(confirm).to_contain_text("Delete /hello?")
    await _snap(page, "confirm-light")
    await confirm.get_by_role("button", name="Cancel").click()
    await expect(confirm).to_be_hidden()
    assert len(await _stored(workspace_id)) == 2
    await _row(page, "hello").get_by_role("button", name="Delete").click()
    await page.click("#confirm-delete")
    await expect(page.get_by_text("Canned response deleted.")).to_be_visible()
    await expect(_row(page, "hello")).to_have_count(0)
    assert [c.shortcut for c in await _stored(workspace_id)] == ["refund"]

    # A new tab, loaded from the database, shows the same.
    other = await page.context.new_page()
    await other.goto("/canned")
    await expect(other.locator(".canned-row")).to_have_count(1)
    await expect(other.locator(".canned-row")).to_contain_text("Returns are free within 60 days.")


async def test_operator_cannot_open_the_canned_page_or_change_responses_by_crafted_events(
    clean: None, new_context: Any
) -> None:
    _, workspace_id = await make_workspace_owner()
    canned_id = await _add(workspace_id, "refund", "Refund policy", "Thirty days, no questions.")
    operator = await add_member(workspace_id, Role.OPERATOR, "operator")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)
    assert "Canned responses" not in await nav_labels(page)
    await page.goto("/canned")
    await page.wait_for_url(at("/dashboard"))
    await expect(page.locator("#page-title")).to_have_text("Overview")
    await expect(page.get_by_text("That page needs the admin role.").first).to_be_visible()

    # A real event from this browser, to copy the wire format from.
    await page.goto("/settings")
    await expect(page.locator("#name")).to_have_value("Operator")
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    real = tap.real_event_frame("save_profile")

    for payload in (
        {"form": {"canned_id": str(canned_id), "shortcut": "refund", "title": "Hacked",
                  "body": "Everything is free."}},
        {"form": {"canned_id": "0", "shortcut": "new", "title": "", "body": "Sneaky."}},
    ):
        reply = await tap.wait_for_reply(NEEDS_ADMIN, after=tap.send(
            tap.craft(real, SAVE, payload)))
        assert "Saved /" not in reply
    await tap.wait_for_reply(NEEDS_ADMIN, after=tap.send(
        tap.craft(real, DELETE, {"canned_id": canned_id})))

    assert [(c.id, c.title, c.body) for c in await _stored(workspace_id)] == [
        (canned_id, "Refund policy", "Thirty days, no questions.")]


async def test_admin_cannot_edit_or_delete_another_workspaces_canned_response(
    clean: None, new_context: Any
) -> None:
    page, workspace_a = await _admin_on_canned_page(new_context, "alpha")
    mine = await _add(workspace_a, "hello", "Greeting", "Hello from Alpha.")
    _, workspace_b = await make_workspace_owner("bravo")
    theirs = await _add(workspace_b, "secret", "Bravo only", "Bravo's private discount code.")

    tap = await SocketTap().install(page)
    await page.reload()
    await expect(page.locator(".canned-row")).to_have_count(1)

    # A edits their own response for real, to copy the wire format from.
    await _row(page, "hello").get_by_role("button", name="Edit").click()
    await page.fill("#title", "Greeting (edited)")
    await page.click("#canned-save")
    await expect(page.get_by_text("Saved /hello.")).to_be_visible()
    real = tap.real_event_frame("save")
    assert SAVE in [e["name"] for e in tap.sent_events()]

    # Opening, saving over and deleting B's response by id: refused as not found.
    for handler, payload in (
        (OPEN_EDIT, {"canned_id": theirs}),
        (SAVE, {"form": {"canned_id": str(theirs), "shortcut": "secret", "title": "Mine now",
                         "body": "Hijacked."}}),
        (DELETE, {"canned_id": theirs}),
    ):
        await tap.wait_for_reply(NOT_FOUND, after=tap.send(tap.craft(real, handler, payload)))
    await expect(page.get_by_text(NOT_FOUND).first).to_be_visible()
    await expect(page.get_by_role("dialog")).to_be_hidden()
    assert [(c.id, c.title, c.body) for c in await _stored(workspace_b)] == [
        (theirs, "Bravo only", "Bravo's private discount code.")]
    assert not [f for f in tap.server_frames if "private discount" in f]

    # The same crafted save with A's own id does save: the probe can fail.
    mark = tap.send(tap.craft(real, SAVE, {"form": {
        "canned_id": str(mine), "shortcut": "hello", "title": "Crafted but mine",
        "body": "Hello again."}}))
    await tap.wait_for_reply("Saved /hello.", after=mark)
    assert [(c.id, c.title) for c in await _stored(workspace_a)] == [(mine, "Crafted but mine")]
    await expect(_row(page, "hello")).to_contain_text("Crafted but mine")
