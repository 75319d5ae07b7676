from typing import Any
from tests.e2e.helpers import SocketTap, make_workspace_owner, sign_in
async def test_probe(clean: None, new_context: Any) -> None:
    email, ws = await make_workspace_owner()
    page = await (await new_context()).new_page()
    tap = await SocketTap().install(page)
    await sign_in(page, email)
    await page.goto("/knowledge")
    await page.get_by_text("Create an assistant first").wait_for()
    for e in tap.sent_events():
        print("EVENT", e["name"], e["payload"])
    print(await page.locator("#knowledge-files").count())
