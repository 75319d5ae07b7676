"""Address bans in the running app (two web workers, production build): an address that
keeps sending wrong Telegram webhook secrets is refused on HTTP and on the websocket; a
platform admin sees the ban on the admin panel and lifts it; a signed-in non-admin who
crafts the lift event over the socket is refused.

The attacker is a client socket bound to 127.0.0.2 (the browsers and the test process use
127.0.0.1, which is exempt), so the real peer address reaches the middleware.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx
from playwright.async_api import expect
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.models import AuditLog
from state.admin import AdminState
from state.settings import SettingsState
from tests.e2e.helpers import (
    SocketTap,
    make_platform_admin,
    make_workspace_owner,
    save_profile,
    sign_in,
)

ATTACKER = "127.0.0.2"
BYSTANDER = "127.0.0.3"
DEFAULT_BAN_AFTER = 30  # REPLYX_BAN_AFTER_FAILURES: the app runs with the default
LIFT = AdminState.get_full_name() + ".lift_ban"
ADMIN_ONLY = "Only platform administrators can do this."


def client_from(address: str, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url,
                             transport=httpx.AsyncHTTPTransport(local_address=address))


async def _event_socket_status(base_url: str, address: str) -> int:
    """Open Reflex's event websocket from `address`: 101 if it opens, else the refusal."""
    host = urlsplit(base_url).netloc
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as http:
        try:
            async with http.ws_connect(f"ws://{host}/_event/?EIO=4&transport=websocket"):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


async def _page_status(base_url: str, address: str) -> httpx.Response:
    async with client_from(address, base_url) as client:
        return await client.get("/login/")


async def test_admin_sees_a_ban_and_lifts_it_and_a_non_admin_cannot(
    clean: None, new_context: Any, app_server: Any
) -> None:
    # The attacker guesses webhook secrets until the app bans the address.
    async with client_from(ATTACKER, app_server.url) as attacker:
        for i in range(DEFAULT_BAN_AFTER):
            r = await attacker.post(f"/api/telegram/webhook/{1000 + i}", json={"update_id": i},
                                    headers={"X-Telegram-Bot-Api-Secret-Token": f"guess{i}"})
            assert r.json() == {"ok": False, "error": "forbidden"}, r.text
    refused = await _page_status(app_server.url, ATTACKER)
    assert refused.status_code == 403 and "Try again in" in refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 900
    assert await _event_socket_status(app_server.url, ATTACKER) == 403
    # Everyone else is served as usual, on pages and on the socket.
    assert (await _page_status(app_server.url, BYSTANDER)).status_code == 200
    assert await _event_socket_status(app_server.url, BYSTANDER) == 101

    # A workspace owner without platform rights crafts the lift event: refused.
    owner, _ = await make_workspace_owner("plain")
    plain = await (await new_context()).new_page()
    tap = await SocketTap().install(plain)
    await sign_in(plain, owner)
    await plain.goto("/settings")
    await expect(plain.locator("#name")).to_have_value("Plain")
    await save_profile(plain)
    await expect(plain.get_by_text("Profile saved.")).to_be_visible()
    real = tap.real_event_frame("save_profile")
    assert SettingsState.get_full_name() + ".save_profile" in [e["name"] for e in
                                                                tap.sent_events()]
    reply = await tap.wait_for_reply(ADMIN_ONLY, after=tap.send(
        tap.craft(real, LIFT, {"address": ATTACKER})))
    assert "Ban lifted" not in reply
    assert not [f for f in tap.server_frames if ATTACKER in f]  # the ban list never leaked
    assert (await _page_status(app_server.url, ATTACKER)).status_code == 403

    # The platform admin sees the ban: address, reason, failures, until.
    email, _ = await make_workspace_owner("root")
    await make_platform_admin(email)
    page = await (await new_context()).new_page()
    await sign_in(page, email)
    await page.goto("/admin")
    await page.get_by_role("tab", name="Address bans").click()
    row = page.locator(".admin-ban-row")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text(ATTACKER)
    await expect(row).to_contain_text("wrong Telegram webhook secret")
    await expect(row).to_contain_text(str(DEFAULT_BAN_AFTER))
    await expect(row).to_contain_text("UTC")

    await row.get_by_role("button", name="Lift ban").click()
    await expect(page.get_by_text(f"Ban lifted for {ATTACKER}.")).to_be_visible()
    await expect(row).to_have_count(0)
    await expect(page.locator("#no-bans")).to_be_visible()
    assert (await _page_status(app_server.url, ATTACKER)).status_code == 200
    assert await _event_socket_status(app_server.url, ATTACKER) == 101
    async with session_scope() as session:
        actions = {(a.action, a.target) for a in await session.exec(select(AuditLog))}
    assert {("address_banned", ATTACKER), ("ban_lifted", ATTACKER)} <= actions


async def test_the_local_address_is_never_banned(clean: None, app_server: Any) -> None:
    """Behind a local proxy without trusted hops every user is 127.0.0.1: never banned."""
    address = "127.0.0.1"
    async with client_from(address, app_server.url) as local:
        for i in range(DEFAULT_BAN_AFTER + 2):
            r = await local.post(f"/api/telegram/webhook/{i + 1}", json={"update_id": i})
            assert r.json() == {"ok": False, "error": "forbidden"}
        assert (await local.get("/login/")).status_code == 200
    assert await _event_socket_status(app_server.url, address) == 101
