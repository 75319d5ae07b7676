"""The signed-in shell renders for an owner."""

from __future__ import annotations

from typing import Any

from tests.e2e.helpers import make_workspace_owner, sign_in


async def test_owner_signs_in_and_sees_the_dashboard(clean: None, new_context: Any) -> None:
    email, _ = await make_workspace_owner()
    page = await (await new_context()).new_page()
    await sign_in(page, email)
    assert await page.locator("#page-title").inner_text() == "Overview"
