"""The Channels page: a tenant admin connects a Telegram bot by pasting its token (checked
against the Telegram test server the app is pointed at), watches what the fleet reports,
and stops, starts, restarts, switches mode and disconnects it; bad tokens are explained;
nobody else can read or control the bots, not even with crafted socket events."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from typing import Any

from playwright.async_api import expect
from sqlmodel import select

from backend_services.channels.telegram import bots
from backend_services.core.db import session_scope
from backend_services.models import Channel, Role
from state.channels import ChannelsState
from tests.e2e.helpers import (
    SocketTap,
    add_member,
    at,
    create_assistant,
    make_workspace_owner,
    owner_principal,
    save_profile,
    sign_in,
)
from tests.support.telegram_server import TelegramTestServer

STATE = ChannelsState.get_full_name()
NEEDS_ADMIN = "This needs the admin role or higher."
LIVE = 30_000  # the page refreshes statuses every 5 s; the first load compiles pages


def new_bot(server: TelegramTestServer, name: str) -> tuple[str, str]:
    """A bot known to the test server: (token, username)."""
    token = f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(25)}"
    username = f"{name}_{secrets.token_hex(3)}_bot"
    server.add_bot(token, username, first_name=name.title())
    return token, username


async def channel_of(username: str) -> Channel | None:
    async with session_scope() as session:
        return (await session.exec(select(Channel).where(Channel.username == username))).first()


async def as_fleet(app_server: Any, body: str) -> None:
    """Run status reports in a separate process with the app's settings (its Redis db), as
    a fleet worker would."""
    code = ("import asyncio\nfrom backend_services.channels.telegram import status\n"
            "async def main():\n" + "".join(f"    {line}\n" for line in body.splitlines())
            + "asyncio.run(main())\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, env=app_server.env, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]


async def _snap(page: Any, name: str) -> None:
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path=f"/tmp/e2e-channels-{name}.png", full_page=True)


async def _admin_on_channels(new_context: Any, prefix: str = "owner") -> tuple[Any, int, int]:
    """An owner with one assistant, signed in, on the Channels page (light mode)."""
    email, workspace_id = await make_workspace_owner(prefix)
    assistant_id = await create_assistant(workspace_id, "Help desk")
    page = await (await new_context()).new_page()
    await page.emulate_media(color_scheme="light")
    await sign_in(page, email)
    await page.goto("/channels")
    await expect(page.locator("#page-title")).to_have_text("Channels")
    await expect(page.locator("#bots-empty")).to_be_visible(timeout=60_000)
    return page, workspace_id, assistant_id


async def test_admin_connects_a_bot_and_controls_it_while_the_fleet_reports_its_status(
    telegram: TelegramTestServer, new_context: Any, app_server: Any
) -> None:
    page, workspace_id, _ = await _admin_on_channels(new_context)
    tap = await SocketTap().install(page)
    await page.reload()
    await expect(page.locator("#bots-empty")).to_be_visible(timeout=60_000)
    await _snap(page, "empty-light")
    token, username = new_bot(telegram, "shop")

    await page.fill("#bot-token", f" {token} ")
    await page.click("#bot-connect")
    await expect(page.get_by_text(f"Connected @{username}.")).to_be_visible()
    row = page.locator(".bot-row")
    await expect(row).to_have_count(1)
    await expect(row.locator(".bot-link")).to_have_text(f"@{username}")
    await expect(row.locator(".bot-link")).to_have_attribute("href", f"https://t.me/{username}")
    await expect(row.locator(".bot-status")).to_have_text("starting…")
    await expect(row.locator(".bot-activity")).to_have_text("—")
    await expect(page.locator("#bot-token")).to_have_value("")
    assert [c.ok for c in telegram.calls(token, "getMe")] == [True]
    channel = await channel_of(username)
    assert channel is not None and channel.workspace_id == workspace_id and channel.is_active

    # The fleet (another process) reports: the page follows without a reload.
    await as_fleet(app_server, f"await status.report_status({channel.id}, 'running', "
                               "worker='fleet-1', version=1)\n"
                               f"await status.record_activity({channel.id}, incoming=3, "
                               "outgoing=4)")
    await expect(row.locator(".bot-status")).to_have_text("running", timeout=LIVE)
    await expect(row.locator(".bot-today")).to_have_text("7")
    await expect(row.locator(".bot-activity")).to_contain_text("ago")
    await _snap(page, "running-light")
    await as_fleet(app_server, f"await status.report_status({channel.id}, 'error', "
                               "'Telegram refused the token (401 Unauthorized)', version=1)")
    await expect(row.locator(".bot-status")).to_have_text("error", timeout=LIVE)
    await expect(row.locator(".bot-error")).to_have_text(
        "Telegram refused the token (401 Unauthorized)")
    await page.emulate_media(color_scheme="dark")
    await expect(page.locator("html")).to_have_class("dark", timeout=10_000)
    await _snap(page, "error-dark")
    await page.emulate_media(color_scheme="light")

    await row.get_by_role("button", name="Stop", exact=True).click()
    await expect(page.get_by_text(f"@{username} will stop in a few seconds.")).to_be_visible()
    await expect(row.locator(".bot-status")).to_have_text("stopped")
    assert await bots.fleet_bot(channel.id or 0) is None
    await row.get_by_role("button", name="Start", exact=True).click()
    await expect(row.locator(".bot-status")).to_have_text("starting…")
    await row.get_by_role("button", name="Restart").click()
    await expect(page.get_by_text(f"Restarting @{username}.")).to_be_visible()

    await page.locator(f"#bot-mode-{channel.id}").click()
    await page.get_by_role("option", name="Webhook").click()
    await expect(page.get_by_text(f"@{username} now uses webhook.")).to_be_visible()
    fleet_view = await bots.fleet_bot(channel.id or 0)
    assert fleet_view is not None and (fleet_view.mode, fleet_view.version) == ("webhook", 5)
    assert fleet_view.token == token

    await row.get_by_role("button", name="Delete").click()
    await expect(page.get_by_text(f"Disconnect @{username}?")).to_be_visible()
    await page.click("#confirm-delete")
    await expect(page.get_by_text("Bot disconnected.")).to_be_visible()
    await expect(page.locator("#bots-empty")).to_be_visible()
    assert await channel_of(username) is None
    # The token went to the server once, in the form; it never came back to the browser.
    assert not [f for f in tap.server_frames if token.split(":")[1] in f]


async def test_bad_revoked_and_taken_tokens_are_explained_next_to_the_form(
    telegram: TelegramTestServer, new_context: Any
) -> None:
    page, _, _ = await _admin_on_channels(new_context)
    await page.fill("#bot-token", "hello")
    await page.click("#bot-connect")
    await expect(page.locator("#form-error")).to_contain_text("does not look like a bot token")

    token, _ = new_bot(telegram, "revoked")
    telegram.revoke(token)
    await page.fill("#bot-token", token)
    await page.click("#bot-connect")
    await expect(page.locator("#form-error")).to_contain_text(
        "Telegram refused this token: it is wrong or has been revoked.")
    await _snap(page, "revoked-light")

    taken, username = new_bot(telegram, "taken")
    _, other_ws = await make_workspace_owner("rival")
    other_assistant = await create_assistant(other_ws, "Other desk")
    await bots.add_bot(await owner_principal(other_ws), other_assistant, taken)
    await page.fill("#bot-token", taken)
    await page.click("#bot-connect")
    await expect(page.locator("#form-error")).to_contain_text(
        f"@{username} is already connected to another workspace.")
    await expect(page.locator("#form-error")).not_to_contain_text("rival")
    await expect(page.locator("#bots-empty")).to_be_visible()
    channel = await channel_of(username)
    assert channel is not None and channel.workspace_id == other_ws


async def test_operator_cannot_open_channels_nor_act_through_crafted_events(
    telegram: TelegramTestServer, new_context: Any
) -> None:
    _, workspace_id = await make_workspace_owner()
    assistant_id = await create_assistant(workspace_id, "Help desk")
    token, username = new_bot(telegram, "ops")
    view = await bots.add_bot(await owner_principal(workspace_id), assistant_id, token)
    operator = await add_member(workspace_id, Role.OPERATOR, "operator")
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, operator)
    await page.goto("/channels")
    await page.wait_for_url(at("/dashboard"))
    await expect(page.get_by_text("That page needs the admin role.").first).to_be_visible()
    nav = page.locator('nav[aria-label="Main"]')
    await expect(nav.get_by_role("link", name="Channels")).to_have_count(0)

    await page.goto("/settings")
    await expect(page.locator("#name")).to_have_value("Operator")
    await save_profile(page)
    await expect(page.get_by_text("Profile saved.")).to_be_visible()
    real = tap.real_event_frame("save_profile")
    new_token, _ = new_bot(telegram, "sneaky")
    # Settings shows an operator the workspace's bot usernames on purpose (to link their
    # own Telegram; a bot's username is public on Telegram): only the answers to the
    # crafted Channels events must carry none of the Channels page's data.
    first = len(tap.server_frames)
    for handler, payload in (
        ("load", {}),
        ("refresh", {}),
        ("add", {"form": {"token": new_token}}),
        ("set_running", {"channel_id": view.id, "running": False}),
        ("restart", {"channel_id": view.id}),
        ("change_mode", {"channel_id": view.id, "mode": "webhook"}),
        ("delete", {"channel_id": view.id}),
    ):
        mark = tap.send(tap.craft(real, f"{STATE}.{handler}", payload))
        await tap.wait_for_reply(NEEDS_ADMIN, after=mark)
    assert not [f for f in tap.server_frames[first:] if username in f]
    assert telegram.calls(new_token) == []
    after = await bots.get_bot(await owner_principal(workspace_id), view.id)
    assert (after.desired, after.mode, after.version) == ("running", "polling", 1)


async def test_admin_of_another_workspace_cannot_control_its_bots_through_crafted_events(
    telegram: TelegramTestServer, new_context: Any
) -> None:
    page, _, my_assistant = await _admin_on_channels(new_context, "alpha")
    _, workspace_b = await make_workspace_owner("bravo")
    assistant_b = await create_assistant(workspace_b, "Bravo desk")
    token_b, username_b = new_bot(telegram, "bravo")
    owner_b = await owner_principal(workspace_b)
    theirs = await bots.add_bot(owner_b, assistant_b, token_b)

    tap = await SocketTap().install(page)
    await page.reload()
    await expect(page.locator("#bots-empty")).to_be_visible(timeout=60_000)
    mine_token, _ = new_bot(telegram, "alpha")
    await page.fill("#bot-token", mine_token)
    await page.click("#bot-connect")
    await expect(page.locator(".bot-row")).to_have_count(1)
    mine = await bot_row_id(page)
    real = tap.real_event_frame("add")
    stolen, _ = new_bot(telegram, "replacement")
    for handler, payload in (
        ("set_running", {"channel_id": theirs.id, "running": False}),
        ("restart", {"channel_id": theirs.id}),
        ("change_mode", {"channel_id": theirs.id, "mode": "webhook"}),
        ("change_assistant", {"channel_id": theirs.id, "assistant_id": str(my_assistant)}),
        ("delete", {"channel_id": theirs.id}),
    ):
        mark = tap.send(tap.craft(real, f"{STATE}.{handler}", payload))
        await tap.wait_for_reply("Bot not found.", after=mark)
    tap.send(tap.craft(real, f"{STATE}.open_token_dialog",
                       {"channel_id": theirs.id, "username": "x"}))
    mark = tap.send(tap.craft(real, f"{STATE}.replace_token", {"form": {"token": stolen}}))
    await tap.wait_for_reply("Bot not found.", after=mark)
    # Nor can A's own bot be made to answer as B's assistant.
    mark = tap.send(tap.craft(real, f"{STATE}.change_assistant",
                              {"channel_id": mine, "assistant_id": str(assistant_b)}))
    await tap.wait_for_reply("Assistant not found.", after=mark)

    after = await bots.get_bot(owner_b, theirs.id)
    assert (after.desired, after.mode, after.assistant_id, after.version) == (
        "running", "polling", assistant_b, 1)
    assert telegram.calls(stolen) == []
    assert not [f for f in tap.server_frames if username_b in f or "Bravo desk" in f]


async def bot_row_id(page: Any) -> int:
    """The id of the one bot row on the page."""
    element_id = await page.locator(".bot-row").first.get_attribute("id")
    assert element_id and element_id.startswith("bot-")
    return int(element_id.removeprefix("bot-"))
