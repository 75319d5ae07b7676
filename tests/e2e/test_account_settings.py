"""Settings, in the browser: where one is signed in and signing out elsewhere, a new
e-mail address through its mailed link, downloading the workspace's export and
scheduling (then cancelling) its deletion; an operator can do neither with the export
nor the deletion, even with a crafted event."""

from __future__ import annotations

import asyncio
import io
import zipfile
from typing import Any

from playwright.async_api import expect

from backend_services.core.db import session_scope
from backend_services.models import Role, Workspace
from state.account import AccountState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    at,
    make_workspace_owner,
    path_of,
    save_profile,
    sign_in,
)

ACCOUNT = AccountState.get_full_name()


async def test_sessions_and_a_new_address(clean: None, new_context: Any, smtp: Any) -> None:
    owner, _ = await make_workspace_owner("anna")
    laptop = await (await new_context()).new_page()
    phone = await (await new_context()).new_page()
    await sign_in(phone, owner)
    await sign_in(laptop, owner)
    await laptop.goto("/settings")
    rows = laptop.locator(".session-row")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="this one")).to_have_count(1)

    await laptop.click("#sign-out-others")
    await expect(laptop.get_by_text("Signed out of 1 other session(s).")).to_be_visible()
    await expect(rows).to_have_count(1)
    await phone.goto("/settings")
    await phone.wait_for_url(at("/login"))

    new_address = f"moved-{owner}"
    await laptop.fill("#new_email", new_address)
    await laptop.fill("#email_password", "Wrong-password-123")
    await laptop.click("#change-email")
    await expect(laptop.get_by_text("The password is not right.")).to_be_visible()
    await laptop.fill("#email_password", "Correct-horse-9")
    await laptop.click("#change-email")
    await expect(laptop.locator("#email-change-sent")).to_contain_text(new_address)
    mail = await asyncio.to_thread(smtp.wait_for, new_address, "Confirm your new")
    await laptop.goto(path_of(mail.link("/confirm-email-change")))
    await expect(laptop.locator("#email-change-ok")).to_contain_text(new_address)
    await laptop.goto("/settings")
    await expect(laptop.get_by_text(new_address).first).to_be_visible()


async def test_an_owner_exports_then_schedules_deletion_an_operator_cannot(
    clean: None, new_context: Any
) -> None:
    owner, workspace_id = await make_workspace_owner("anna")
    operator = await add_member(workspace_id, Role.OPERATOR, "oleg")
    page = await (await new_context()).new_page()
    await sign_in(page, owner)
    await page.goto("/settings")
    export = await page.request.get("/api/workspace/export")
    assert export.status == 200
    assert "attachment" in export.headers["content-disposition"]
    archive = zipfile.ZipFile(io.BytesIO(await export.body()))
    assert "assistants.jsonl" in archive.namelist()
    assert b"anna workspace" in archive.read("workspace.json")

    await page.fill("#confirm_name", "anna")
    await page.click("#delete-workspace")
    await expect(page.get_by_text("Type the workspace's name exactly")).to_be_visible()
    await page.fill("#confirm_name", "anna workspace")
    await page.click("#delete-workspace")
    await expect(page.locator("#workspace-deletion-due")).to_be_visible()
    async with session_scope() as s:
        assert (await s.get(Workspace, workspace_id)).delete_after is not None  # type: ignore[union-attr]
    await page.click("#cancel-deletion")
    await expect(page.get_by_text("Deletion cancelled")).to_be_visible()
    await expect(page.locator("#delete-workspace")).to_be_visible()

    other = await (await new_context()).new_page()
    tap = await SocketTap().install(other)
    await sign_in(other, operator)
    refused = await other.request.get("/api/workspace/export")
    assert refused.status == 403
    await other.goto("/settings")
    await expect(other.locator("#delete-workspace")).to_have_count(0)
    await save_profile(other)
    real = tap.real_event_frame("save_profile")
    mark = tap.send(tap.craft(real, f"{ACCOUNT}.request_deletion",
                              {"form": {"confirm_name": "anna workspace"}}))
    await tap.wait_for_reply("This needs the owner role or higher.", after=mark)
    async with session_scope() as s:
        assert (await s.get(Workspace, workspace_id)).delete_after is None  # type: ignore[union-attr]
