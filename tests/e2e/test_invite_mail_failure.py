"""When the invitation mail cannot be sent, the owner is told and nothing is left pending."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect

from backend_services.identity import team
from backend_services.identity.auth import authenticate, login
from tests.e2e.helpers import PASSWORD, make_workspace_owner, sign_in, unique_email
from tests.support.smtp_server import SmtpTestServer


async def test_failed_invitation_mail_is_reported_and_not_left_pending(
    clean: None, new_context: Any, smtp: SmtpTestServer
) -> None:
    email, _ = await make_workspace_owner()
    page = await (await new_context()).new_page()
    await sign_in(page, email)
    await page.goto("/team")
    invitee = unique_email("nomail")
    smtp.set_refusing(True)
    try:
        await page.fill("#invite-email", invitee)
        await page.click("#invite-submit")
        await expect(page.locator("#form-error")).to_contain_text("could not send")
    finally:
        smtp.set_refusing(False)
    await expect(page.get_by_text(f"Invitation sent to {invitee}")).to_have_count(0)
    owner = await authenticate((await login(email=email, password=PASSWORD)).session_id)
    assert [i.email for i in await team.list_invitations(owner)] == []
