"""Requests another site makes with a signed-in visitor's browser get nowhere: a link or a
form that would sign them out, a form posted at the API, a login ticket from someone
else's sign-in, a websocket opened from another origin with their cookie.

The attacker's page is served from 127.0.0.1 on another port: another origin but the same
site, so the browser sends even SameSite=Lax cookies with its requests and only the app's
own checks stand in the way."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import httpx
from playwright.async_api import expect
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.models import Assistant, UserSession
from tests.e2e.helpers import LOGIN_URL, at, make_workspace_owner, session_cookie, sign_in
from tests.e2e.test_widget_loader import HostSite, host_site  # noqa: F401  (fixture)

LIVE = 30_000
TICKET_URL = re.compile(r"/api/auth/session\?ticket=")


async def _still_signed_in(page: Any) -> None:
    await page.goto("/dashboard")
    await expect(page.locator("#overview-greeting")).to_be_visible(timeout=LIVE)
    assert at("/dashboard").match(page.url)


async def _signed_in_victim(new_context: Callable[[], Any]) -> tuple[Any, Any]:
    """A workspace owner signed in in their own browser: (context, page)."""
    email, _ = await make_workspace_owner("victim")
    context = await new_context()
    page = await context.new_page()
    await sign_in(page, email)
    return context, page


async def _open_site(page: Any, site: HostSite, html: str) -> None:
    site.html = "<!doctype html><title>Prize</title>" + html
    await page.goto(site.origin + "/")


async def test_a_link_or_form_on_another_site_signs_nobody_out(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    _, page = await _signed_in_victim(new_context)
    site = host_site()

    # A plain link (GET) to the sign-out endpoint.
    await _open_site(page, site, f'<a id="go" href="{app_server.url}/api/auth/logout">win</a>')
    async with page.expect_navigation():
        await page.click("#go")
    await _still_signed_in(page)

    # A form posted from the other site, the way a hidden auto-submitting form would.
    await _open_site(page, site, f'<form id="f" method="post" '
                     f'action="{app_server.url}/api/auth/logout"><button id="b">win</button>'
                     '</form>')
    async with page.expect_response(f"{app_server.url}/api/auth/logout") as answer:
        await page.click("#b")
    assert (await answer.value).status == 403
    await _still_signed_in(page)
    async with session_scope() as s:
        rows = (await s.exec(select(UserSession))).all()
    assert [r.revoked_at for r in rows] == [None]

    # The user's own menu still signs out.
    await page.click("#user-menu")
    await page.click("#logout")
    await page.wait_for_url(LOGIN_URL)


async def test_a_form_posted_at_the_api_from_another_site_changes_nothing(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    context, page = await _signed_in_victim(new_context)
    cookie = await session_cookie(context)
    site = host_site()
    await _open_site(page, site, (
        f'<form id="f" method="post" enctype="text/plain" '
        f'action="{app_server.url}/api/v1/assistants">'
        '<input name=\'{"name": "Pwned", "x": "\' value=\'"}\'><button id="b">win</button>'
        '</form>'))
    async with page.expect_response(f"{app_server.url}/api/v1/assistants") as answer:
        await page.click("#b")
    assert (await answer.value).status in (403, 415)

    # Even a client that sends JSON with the victim's cookie is refused when the browser
    # marks the request as coming from another origin.
    async with httpx.AsyncClient(base_url=app_server.url,
                                 cookies={cookie["name"]: cookie["value"]}) as http:
        forged = await http.post("/api/v1/assistants", json={"name": "Pwned"},
                                 headers={"Origin": site.origin})
        own = await http.get("/api/v1/assistants", headers={"Origin": site.origin})
    assert forged.status_code == 403, forged.text
    assert own.status_code == 200  # reading with the cookie from our own pages still works
    async with session_scope() as s:
        assert (await s.exec(select(Assistant))).all() == []


async def test_a_login_ticket_from_another_browser_signs_nobody_in(
    clean: None, app_server: Any, new_context: Any
) -> None:
    """The attacker signs in to their own workspace and stops before the ticket is used,
    then hands the ticket link to the victim: it would put the victim in the attacker's
    workspace, where anything the victim types is the attacker's to read."""
    attacker, _ = await make_workspace_owner("attacker")
    mallory = await (await new_context()).new_page()
    captured: list[str] = []
    got_ticket = asyncio.Event()

    async def hold(route: Any) -> None:
        captured.append(route.request.url)
        got_ticket.set()
        await route.abort()

    await mallory.route(TICKET_URL, hold)
    await mallory.goto("/login")
    await mallory.fill("#email", attacker)
    await mallory.fill("#password", "Correct-horse-9")
    await mallory.click("#login-submit")
    await asyncio.wait_for(got_ticket.wait(), 20)
    assert "ticket=" in captured[0]

    victim_context = await new_context()
    victim = await victim_context.new_page()
    await victim.goto("/login")  # a browser that has been here before holds its own cookie
    await victim.goto(captured[0])
    await victim.wait_for_url(LOGIN_URL)
    assert not [c for c in await victim_context.cookies() if c["name"] == "replyx_session"]

    # Spent: not even the browser it was issued to can use it now.
    await mallory.unroute(TICKET_URL)
    await mallory.goto(captured[0])
    await mallory.wait_for_url(LOGIN_URL)


async def test_a_websocket_from_another_origin_is_refused_even_with_the_cookie(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite],  # noqa: F811
) -> None:
    context, _ = await _signed_in_victim(new_context)
    cookie = await session_cookie(context)
    url = app_server.url.replace("http://", "ws://") + "/_event/?EIO=4&transport=websocket"
    headers = {"Cookie": f"{cookie['name']}={cookie['value']}"}

    async with aiohttp.ClientSession() as http:
        try:
            async with http.ws_connect(url, headers={**headers, "Origin": host_site().origin}):
                refused = False
        except aiohttp.WSServerHandshakeError as exc:
            refused = exc.status in (400, 403)
        assert refused, "a websocket from another origin was accepted"
        # The same handshake from the app's own origin opens (the check is the origin).
        async with http.ws_connect(url, headers={**headers, "Origin": app_server.url}) as ws:
            opened = await ws.receive_str(timeout=20)
    assert opened.startswith("0{")  # the Engine.IO open packet
