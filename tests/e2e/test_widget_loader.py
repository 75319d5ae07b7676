"""The embeddable widget as a site visitor meets it: the loader on another origin, the session
endpoint's CORS, and the widget page's frame-ancestors.

Host pages are served by a tiny HTTP server of the test on 127.0.0.1 (another port, so
another origin than the app). Debian's Chromium with its default profile.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from playwright.async_api import expect

from backend_services.widget import settings as widget
from backend_services.widget import visitors
from backend_services.widget.settings import WidgetInput
from replyx_app.api.widget_routes import LOADER_PATH
from tests.e2e.helpers import create_assistant, make_workspace_owner, owner_principal
from tests.integration.test_health_http import csp_directives


class HostSite:
    """A stand-in for a tenant's website: serves one HTML page on its own origin."""

    def __init__(self) -> None:
        self.html = "<!doctype html><title>Shop</title><h1>Shop</h1>"
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = site.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.origin = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_site() -> Iterator[Callable[[], HostSite]]:
    sites: list[HostSite] = []

    def make() -> HostSite:
        sites.append(HostSite())
        return sites[-1]

    yield make
    for s in sites:
        s.stop()


async def _widget(origins: tuple[str, ...], **look: Any) -> tuple[int, str]:
    """A workspace with an assistant whose widget may load on `origins`: (ws id, public id)."""
    _, ws = await make_workspace_owner("widget")
    aid = await create_assistant(ws, "Shop helper")
    view = await widget.update_settings(await owner_principal(ws), aid,
                                        WidgetInput(allowed_origins=origins, **look))
    return ws, view.public_id


async def _eventually(probe: Callable[[], Any], timeout: float = 20.0) -> Any:
    """The first truthy value of `probe`, checked until the deadline (browser events)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (value := probe()) is None or value is False:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the expected browser event did not happen")
        await asyncio.sleep(0.05)  # poll: console and frame events arrive asynchronously
    return value


def _page_with_snippet(app_url: str, public_id: str) -> str:
    return ("<!doctype html><html><head><title>Shop</title>"
            # Hostile host-page CSS: the launcher lives in a shadow root and must not care.
            "<style>button{display:none!important}*{color:lime!important}</style></head>"
            "<body><h1>Shop</h1>" + widget.snippet(app_url, public_id) + "</body></html>")


# --------------------------------------------------------------------------- HTTP surface


def test_the_loader_stays_under_six_kilobytes_gzipped() -> None:
    size = len(gzip.compress(LOADER_PATH.read_bytes(), 9))
    assert size <= 6 * 1024, f"widget.js is {size} bytes gzipped"


async def test_loader_is_served_as_cacheable_javascript(clean: None, app_server: Any) -> None:
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        r = await http.get("/widget.js")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/javascript")
        assert r.text == LOADER_PATH.read_text()
        assert r.headers["cache-control"] == "public, max-age=300"
        etag = r.headers["etag"]
        again = await http.get("/widget.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""


async def test_session_endpoint_grants_cors_only_to_an_allowed_origin(
    clean: None, app_server: Any
) -> None:
    ws, public_id = await _widget(("https://shop.example.com",), language="ru")
    url = "/api/widget/session"
    body = json.dumps({"widget": public_id})
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        ok = await http.post(url, content=body, headers={
            "Origin": "https://shop.example.com", "Content-Type": "text/plain;charset=UTF-8"})
        assert ok.status_code == 200, ok.text
        assert ok.headers["access-control-allow-origin"] == "https://shop.example.com"
        # It reads no cookie, so it never grants a credentialed request.
        assert "access-control-allow-credentials" not in ok.headers
        assert "origin" in ok.headers["vary"].lower()
        data = ok.json()
        claims = visitors.verify_token(data["token"])
        assert (claims.workspace_id, claims.widget_public_id) == (ws, public_id)
        assert claims.origin == "https://shop.example.com"
        assert claims.visitor_id == data["visitor_id"]
        assert data["config"]["language"] == "ru"
        assert data["config"]["strings"]["send"] == widget.WIDGET_STRINGS["ru"]["send"]
        # Every text the Russian widget draws is Russian, the contact form's too.
        assert data["config"]["strings"]["end_chat"] == "Завершить чат"
        assert data["config"]["strings"]["name_placeholder"] == "Имя"

        # The same visitor comes back with their credential.
        back = await http.post(url, json={"widget": public_id, "visitor_id": data["visitor_id"],
                                          "visitor_sig": data["visitor_sig"]},
                               headers={"Origin": "https://shop.example.com"})
        assert back.status_code == 200
        assert back.json()["visitor_id"] == data["visitor_id"]

        for origin in ("https://evil.example.com", "http://shop.example.com", None):
            headers = {"Content-Type": "text/plain"} | ({"Origin": origin} if origin else {})
            refused = await http.post(url, content=body, headers=headers)
            assert refused.status_code == 403, origin
            assert "access-control-allow-origin" not in refused.headers
            assert "not allowed on" in refused.json()["error"]
            assert "Widget tab" in refused.json()["error"]
            assert "token" not in refused.json()

        unknown = await http.post(url, json={"widget": "wid_" + "Q" * 20},
                                  headers={"Origin": "https://shop.example.com"})
        assert unknown.status_code == 403
        # An unknown (or switched-off) widget may say so to any page: nothing to hide.
        assert unknown.headers["access-control-allow-origin"] == "https://shop.example.com"
        assert "no active chat widget" in unknown.json()["error"]

        garbage = await http.post(url, content="not json",
                                  headers={"Origin": "https://shop.example.com"})
        assert garbage.status_code == 400


async def test_widget_page_may_be_framed_only_by_the_widgets_origins(
    clean: None, app_server: Any
) -> None:
    _, public_id = await _widget(("https://shop.example.com", "http://localhost:8080"))
    _, unlisted = await _widget(())
    async with httpx.AsyncClient(base_url=app_server.url) as http:
        for path in ("/widget", "/widget/"):
            r = await http.get(f"{path}?w={public_id}")
            csp = csp_directives(r.headers.get("content-security-policy", ""))
            assert csp["frame-ancestors"] == "https://shop.example.com http://localhost:8080"
            assert csp["script-src"].startswith("'self'") and csp["object-src"] == "'none'"
            assert "x-frame-options" not in r.headers, path
            assert r.headers.get("x-content-type-options") == "nosniff"
        for query in (f"?w={unlisted}", "?w=wid_" + "N" * 20, "?w=<script>", ""):
            r = await http.get(f"/widget/{query}")
            assert csp_directives(r.headers["content-security-policy"])["frame-ancestors"] == \
                "'none'", query
            assert "x-frame-options" not in r.headers
        other = await http.get(f"/login/?w={public_id}")
        assert csp_directives(other.headers["content-security-policy"])["frame-ancestors"] == \
            "'self'"
        assert other.headers["x-frame-options"].upper() == "SAMEORIGIN"


# --------------------------------------------------------------------------- in the browser


async def test_snippet_on_an_allowed_site_shows_the_launcher_and_opens_the_chat_iframe(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite]
) -> None:
    site = host_site()
    ws, public_id = await _widget((site.origin,), launcher_text="Questions?",
                                  primary_color="#0f766e", position="left")
    site.html = _page_with_snippet(app_server.url, public_id)
    page = await (await new_context()).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(site.origin + "/")

    launcher = page.get_by_role("button", name="Open chat")
    await expect(launcher).to_be_visible()
    await expect(launcher).to_have_text("Questions?")
    await expect(launcher).to_have_css("background-color", "rgb(15, 118, 110)")
    box = await launcher.bounding_box()
    assert box is not None and box["x"] < 100  # position: left
    assert await page.locator("iframe").count() == 0  # the chat loads only when opened
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path="/tmp/e2e-widget-host-launcher.png")

    await launcher.click()
    frame_el = page.locator("iframe")
    await expect(frame_el).to_have_count(1)
    src = await frame_el.get_attribute("src")
    assert src is not None
    assert src.startswith(f"{app_server.url}/widget?w={public_id}#t=")
    claims = visitors.verify_token(unquote(src.split("#t=", 1)[1]))
    assert (claims.workspace_id, claims.widget_public_id, claims.origin) == (
        ws, public_id, site.origin)
    await expect(page.get_by_role("button", name="Close chat")).to_have_attribute(
        "aria-expanded", "true")
    # The widget page loaded inside the frame (frame-ancestors lets this origin embed it).
    frame = await _eventually(lambda: next(
        (f for f in page.frames if f.url.startswith(f"{app_server.url}/widget")), None))
    assert await frame.evaluate("location.origin") == app_server.url
    if os.environ.get("E2E_SCREENSHOTS"):
        await page.screenshot(path="/tmp/e2e-widget-host-open.png")

    # The visitor credential lives in the host page's own storage: a reload keeps the visitor.
    stored = await page.evaluate(f"JSON.parse(localStorage.getItem('replyx:{public_id}'))")
    assert stored["visitor_id"] == claims.visitor_id
    await page.reload()
    await page.get_by_role("button", name="Open chat").click()
    src2 = await page.locator("iframe").get_attribute("src")
    assert src2 is not None
    assert visitors.verify_token(unquote(src2.split("#t=", 1)[1])).visitor_id == claims.visitor_id
    assert not [e for e in errors if "ReplyX" in e], errors


async def test_loader_obeys_only_messages_from_its_own_iframe(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite]
) -> None:
    site = host_site()
    _, public_id = await _widget((site.origin,))
    site.html = _page_with_snippet(app_server.url, public_id)
    page = await (await new_context()).new_page()
    await page.goto(site.origin + "/")
    await page.get_by_role("button", name="Open chat").click()
    close = page.get_by_role("button", name="Close chat")
    await expect(close).to_be_visible()
    frame = await _eventually(lambda: next(
        (f for f in page.frames if f.url.startswith(f"{app_server.url}/widget")), None))
    await frame.wait_for_load_state()

    # The host page (another origin than the app) cannot drive the widget.
    await page.evaluate("window.postMessage({type: 'replyx:close'}, '*')")
    await page.evaluate("window.postMessage({type: 'replyx:unread', count: 5}, '*')")
    # The iframe can: it closes the panel; unread counts show on the closed launcher.
    await frame.evaluate("parent.postMessage({type: 'replyx:close'}, '*')")
    launcher = page.get_by_role("button", name="Open chat")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await expect(launcher).to_have_text("Chat with us")  # the host's 5 was ignored
    await frame.evaluate("parent.postMessage({type: 'replyx:unread', count: 3}, '*')")
    await expect(launcher).to_have_text("Chat with us3")
    await launcher.click()
    await expect(page.get_by_role("button", name="Close chat")).to_have_text("Chat with us")

    # Ready: the loader hands the frame a token, addressed to the app's origin only.
    await frame.evaluate("""() => { window.__got = null;
        addEventListener('message', e => { window.__got = [e.origin, e.data]; });
        parent.postMessage({type: 'replyx:ready'}, '*'); }""")
    await frame.wait_for_function("window.__got !== null")
    got_origin, got = await frame.evaluate("window.__got")
    assert got_origin == site.origin
    assert got["type"] == "replyx:token"
    assert visitors.verify_token(got["token"]).widget_public_id == public_id


async def test_a_switched_off_widget_says_so_in_the_console_not_a_guess(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite]
) -> None:
    site = host_site()
    _, public_id = await _widget((site.origin,), enabled=False)
    site.html = _page_with_snippet(app_server.url, public_id)
    page = await (await new_context()).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(site.origin + "/")
    message = await _eventually(lambda: next((e for e in errors if e.startswith("ReplyX:")), None))
    assert "no active chat widget" in message and "switched on" in message
    assert "allowed origins" not in message
    assert await page.locator("iframe").count() == 0


async def test_snippet_on_a_site_that_is_not_allowed_draws_nothing_and_says_why(
    clean: None, app_server: Any, new_context: Any, host_site: Callable[[], HostSite]
) -> None:
    allowed, other = host_site(), host_site()
    _, public_id = await _widget((allowed.origin,))
    other.html = _page_with_snippet(app_server.url, public_id)
    page = await (await new_context()).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto(other.origin + "/")
    await page.wait_for_function("() => window.__replyxWidgets !== undefined")
    message = await _eventually(lambda: next((e for e in errors if e.startswith("ReplyX:")), None))
    assert other.origin in message
    assert "allowed origins" in message
    assert await page.locator("[data-replyx]").count() == 0
    assert await page.locator("iframe").count() == 0
    # Framing the widget page by hand from that site is refused by the browser.
    await page.evaluate(
        "u => { const f = document.createElement('iframe'); f.src = u; "
        "document.body.appendChild(f); }", f"{app_server.url}/widget?w={public_id}")
    await expect(page.locator("iframe")).to_have_count(1)
    blocked = await _eventually(lambda: next(
        (f for f in page.frames[1:] if f.url not in ("", "about:blank")), None))
    assert not blocked.url.startswith(app_server.url), blocked.url
