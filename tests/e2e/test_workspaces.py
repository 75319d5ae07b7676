"""Several workspaces in one account, in the browser: a signed-in person joins a second
workspace with one click, switches from the header and sees only the chosen workspace;
a crafted event naming the other workspace's object acts on nothing; a new workspace is
made from the header and renamed in Settings."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import expect

from backend_services.identity import team
from backend_services.models import Role
from state.assistants import AssistantsState
from tests.e2e.helpers import (
    SocketTap,
    at,
    create_assistant,
    find_assistant,
    make_workspace_owner,
    owner_principal,
    path_of,
    sign_in,
)

ASSISTANTS = AssistantsState.get_full_name()


async def test_a_member_of_two_workspaces_joins_with_one_click_and_switches(
    clean: None, new_context: Any, smtp: Any
) -> None:
    anna, anna_ws = await make_workspace_owner("anna")
    _, bob_ws = await make_workspace_owner("bob")
    await create_assistant(anna_ws, "Anna helper")
    bob_helper = await create_assistant(bob_ws, "Bob helper")
    await team.invite(await owner_principal(bob_ws), anna, Role.ADMIN)
    mail = await asyncio.to_thread(smtp.wait_for, anna, "You are invited to")

    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, anna)
    await expect(page.locator("#workspace-menu")).to_contain_text("anna workspace")
    await page.goto(path_of(mail.link("/invite")))
    await expect(page.get_by_text("You are signed in as")).to_be_visible()
    await page.click("#invite-accept")  # the only step: no password, no second sign-in
    await page.wait_for_url(at("/dashboard"))
    await expect(page.locator("#workspace-menu")).to_contain_text("bob workspace")

    await page.goto("/assistants")
    await expect(page.get_by_text("Bob helper")).to_be_visible()
    await expect(page.get_by_text("Anna helper")).to_have_count(0)

    await page.click("#workspace-menu")
    choices = page.locator(".workspace-choice")
    await expect(choices).to_have_count(2)
    await expect(choices.filter(has_text="bob workspace")).to_contain_text("admin")
    await choices.filter(has_text="anna workspace").click()
    await expect(page.locator("#workspace-menu")).to_contain_text("anna workspace")
    await page.get_by_text("Welcome").first.wait_for()
    await page.goto("/assistants")
    await expect(page.get_by_text("Anna helper")).to_be_visible()
    await expect(page.get_by_text("Bob helper")).to_have_count(0)

    # In Anna's workspace, a crafted delete of Bob's assistant finds nothing to delete,
    # although she is an admin there too: the session's workspace decides, not the event.
    await page.click("#new-assistant")
    real = tap.real_event_frame("open_new")
    mark = tap.send(tap.craft(real, f"{ASSISTANTS}.delete", {"assistant_id": bob_helper}))
    await tap.wait_for_reply("Assistant not found.", after=mark)
    assert await find_assistant(bob_helper) is not None


async def test_a_new_workspace_from_the_header_is_empty_owned_and_renamable(
    clean: None, new_context: Any
) -> None:
    anna, anna_ws = await make_workspace_owner("anna")
    await create_assistant(anna_ws, "Anna helper")
    page = await (await new_context()).new_page()
    await sign_in(page, anna)
    await page.click("#workspace-menu")
    await page.click("#workspace-new")
    await expect(page.locator("#new-workspace-name")).to_be_visible()
    await page.fill("#new-workspace-name", "Second shop")
    await expect(page.locator("#new-workspace-name")).to_have_value("Second shop")
    await page.keyboard.press("Enter")
    # Creating moves the session and reloads the page: the dialog goes with the old page.
    await expect(page.locator("#new-workspace-name")).to_have_count(0, timeout=30_000)
    await page.wait_for_url(at("/dashboard"))
    await expect(page.locator("#workspace-menu")).to_contain_text("Second shop")
    await page.goto("/assistants")
    await expect(page.get_by_text("Create your first assistant")).to_be_visible()

    await page.goto("/settings")
    await expect(page.locator("#workspace_name")).to_have_value("Second shop")
    await page.fill("#workspace_name", "Anna's outlet")
    await page.click("#rename-workspace")
    await expect(page.get_by_text("Workspace renamed.")).to_be_visible()
    await expect(page.locator("#workspace-menu")).to_contain_text("Anna's outlet")
    await page.click("#workspace-menu")
    await expect(page.locator(".workspace-choice")).to_have_count(2)
    await expect(page.locator(".workspace-choice").filter(has_text="Anna's outlet")
                 ).to_contain_text("owner")
