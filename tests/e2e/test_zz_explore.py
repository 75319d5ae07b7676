from __future__ import annotations
from typing import Any
from tests.e2e.helpers import make_workspace_owner, sign_in

async def test_explore(clean: None, new_context: Any) -> None:
    email, ws = await make_workspace_owner()
    page = await (await new_context()).new_page()
    frames: list[tuple[str, Any]] = []
    urls = []
    def handler(ws_route: Any) -> None:
        urls.append(ws_route.url)
        server = ws_route.connect_to_server()
        def c2s(m: Any) -> None:
            frames.append(("c2s", m)); server.send(m)
        def s2c(m: Any) -> None:
            frames.append(("s2c", m)); ws_route.send(m)
        ws_route.on_message(c2s)
        server.on_message(s2c)
    await page.route_web_socket("**/_event/**", handler)
    await sign_in(page, email)
    await page.goto("/assistants")
    await page.click("#new-assistant")
    await page.fill("#name", "Bot")
    await page.click("#assistant-save")
    await page.locator(".assistant-row").wait_for()
    await page.screenshot(path="/tmp/e2e/explore.png")
    print("URLS", urls)
    for d, m in frames:
        print(d, str(m)[:600])
