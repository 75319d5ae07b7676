"""A contact left offline, worked from the console in a real browser: the conversation
shows in the queue as continued by e-mail, the operator's reply typed in the console
reaches the visitor's mailbox, and the visitor's e-mail reply shows in the same
conversation."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage
from typing import Any

from playwright.async_api import expect

from backend_services.conversations import dialogs, email_thread, turns
from backend_services.conversations.actors import contact_actor
from backend_services.models import Role
from tests.e2e.helpers import add_member, create_assistant, make_workspace_owner, sign_in
from tests.support.mail_replies import send
from tests.support.smtp_server import SmtpTestServer

LIVE = 30_000
VISITOR = "olga@example.org"


async def test_an_offline_contact_is_answered_from_the_console_and_replies_by_mail(
    clean: None, new_context: Any, smtp: SmtpTestServer, receiver: int
) -> None:
    _, ws = await make_workspace_owner("mailshop")
    assistant_id = await create_assistant(ws, "Shop helper")
    who = await contact_actor(ws, assistant_id, "widget", "v-olga")
    start = await turns.handle_visitor_message(who, "Can I return an opened box?", None)
    await turns.request_human(who, start.posted.dialog.id)
    await dialogs.leave_contact(who, start.posted.dialog.id, "Olga", VISITOR)

    console = await (await new_context()).new_page()
    await sign_in(console, await add_member(ws, Role.OPERATOR, "vera"))
    await console.goto("/console")
    row = console.locator(".inbox-row").first
    await expect(row).to_contain_text("widget · e-mail", timeout=LIVE)
    await row.click()
    await expect(console.get_by_text(f"replies by e-mail to {VISITOR}")).to_be_visible()
    await console.locator("#take-over").click()
    await expect(console.locator("#hand-back")).to_be_visible(timeout=LIVE)
    smtp.forget()
    await console.locator("#console-input").fill("Yes, within 14 days. Vera")
    await console.locator("#console-send").click()
    await expect(console.locator("#console-messages")).to_contain_text("within 14 days")

    async def mailed() -> dict[str, int]:  # what the jobs process does every few seconds
        for _ in range(200):
            if sent := await email_thread.send_due():
                return sent
            await asyncio.sleep(0.05)  # poll: the reply commits in the web process
        return {}
    assert await mailed() == {"sent": 1}
    got = await asyncio.to_thread(smtp.wait_for, VISITOR, "Re: mailshop workspace")
    assert "Yes, within 14 days. Vera" in got.text

    reply = EmailMessage()
    reply["From"] = f"Olga <{VISITOR}>"
    reply["To"] = str(got.message["Reply-To"])
    reply["Subject"] = "Re: " + str(got.message["Subject"])
    reply["Message-ID"] = "<olga-1@example.org>"
    reply["In-Reply-To"] = str(got.message["Message-ID"])
    reply.set_content("Great, I will send it back on Monday.\n\n"
                      "On Mon, Vera <no-reply@replyx.dev> wrote:\n> "
                      + "\n> ".join(got.text.splitlines()))
    await asyncio.to_thread(send, receiver, reply)
    await console.goto(f"/console?d={start.posted.dialog.id}")
    messages = console.locator("#console-messages")
    await expect(messages).to_contain_text("Great, I will send it back on Monday.",
                                           timeout=LIVE)
    await expect(messages).not_to_contain_text("Please type your reply above")
