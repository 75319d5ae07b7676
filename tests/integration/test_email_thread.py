"""A conversation continued by e-mail, through real SMTP both ways: the visitor leaves an
address while nobody is online, the operator's reply reaches their mailbox, their reply
(quoted mail and all) comes back into the same conversation once, and nobody can write
into a conversation that is not theirs."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage

import pytest
from sqlmodel import col, select

from backend_services.conversations import dialogs, email_thread, handoff, turns
from backend_services.core.db import session_scope
from backend_services.models import Dialog, Message
from tests.integration.conversation_helpers import Shop, shop, visitor
from tests.support.mail_replies import send
from tests.support.smtp_server import SmtpTestServer

VISITOR = "ivan@example.org"


def _reply(to: str, body: str, message_id: str, sender: str = VISITOR) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = f"Ivan <{sender}>"
    mail["To"] = to
    mail["Subject"] = "Re: your answer"
    mail["Message-ID"] = message_id
    mail.set_content(body)
    return mail


async def _messages(dialog_id: int) -> list[tuple[str, str]]:
    async with session_scope() as session:
        rows = await session.exec(select(Message).where(col(Message.dialog_id) == dialog_id)
                                  .order_by(col(Message.id)))
        return [(m.sender, m.content) for m in rows if m.sender in ("visitor", "operator")]


async def _offline_contact(s: Shop) -> int:
    who = await visitor(s.bot, "v-email")
    start = await turns.handle_visitor_message(who, "Where is my parcel?", None)
    dialog_id = start.posted.dialog.id
    await turns.request_human(who, dialog_id)
    await dialogs.leave_contact(who, dialog_id, "Ivan", VISITOR)
    return dialog_id


async def test_the_operators_answer_is_mailed_and_the_visitors_reply_comes_back_once(
    clean: None, smtp: SmtpTestServer, receiver: int
) -> None:
    a = await shop("a")
    dialog_id = await _offline_contact(a)
    assert (await dialogs.get_dialog(a.anna, dialog_id)).email_thread
    await handoff.accept(a.anna, dialog_id)
    await dialogs.operator_reply(a.anna, dialog_id, "Your parcel ships tomorrow.", "r1")
    smtp.forget()
    assert (await email_thread.send_due()) == {"sent": 1}
    got = await asyncio.to_thread(smtp.wait_for, VISITOR, f"#{dialog_id}")
    assert "Your parcel ships tomorrow." in got.text and email_thread.MARKER in got.text
    reply_to = str(got.message["Reply-To"])
    assert email_thread.dialog_of_address(reply_to) == dialog_id
    assert await email_thread.send_due() == {}  # sent once

    quoted = "\n".join(f"> {line}" for line in got.text.splitlines())
    body = ("Thanks! And can I change the address?\n\n"
            "On Mon, 7 Dec 2026 at 12:00, Shop a <no-reply@replyx.dev> wrote:\n" + quoted)
    await asyncio.to_thread(send, receiver, _reply(reply_to, body, "<r-1@example.org>"))
    assert await _messages(dialog_id) == [
        ("visitor", "Where is my parcel?"), ("operator", "Your parcel ships tomorrow."),
        ("visitor", "Thanks! And can I change the address?")]
    # The same mail delivered again (a relay retrying) is the same message.
    await asyncio.to_thread(send, receiver, _reply(reply_to, body, "<r-1@example.org>"))
    assert len(await _messages(dialog_id)) == 3

    # A Russian client's attribution line and quote are cut as well.
    ru = ("Спасибо, жду.\n\nпн, 7 дек. 2026 г. в 12:05, Shop a <no-reply@replyx.dev>:\n"
          + quoted)
    await asyncio.to_thread(send, receiver, _reply(reply_to, ru, "<r-2@example.org>"))
    assert (await _messages(dialog_id))[-1] == ("visitor", "Спасибо, жду.")

    # The second answer threads under the visitor's reply.
    await dialogs.operator_reply(a.anna, dialog_id, "Yes, send me the new one.", "r2")
    await email_thread.send_due()
    second = await asyncio.to_thread(smtp.wait_for, VISITOR, f"#{dialog_id}")
    assert "Yes, send me the new one." in second.text
    assert str(second.message["In-Reply-To"]) == "<r-2@example.org>"

    # After the conversation is closed, a reply continues in a new one for people.
    await dialogs.close(a.anna, dialog_id)
    await asyncio.to_thread(send, receiver, _reply(reply_to, "One more thing!",
                                                    "<r-3@example.org>"))
    async with session_scope() as session:
        newer = (await session.exec(select(Dialog).where(
            col(Dialog.contact_id) == (await session.get(Dialog, dialog_id)).contact_id,  # type: ignore[union-attr]
            col(Dialog.id) != dialog_id))).one()
    assert (newer.status, newer.email_thread) == ("requested", True)
    assert await _messages(newer.id or 0) == [("visitor", "One more thing!")]


async def test_nobody_writes_into_a_conversation_that_is_not_theirs(
    clean: None, receiver: int
) -> None:
    a, b = await shop("a"), await shop("b")
    ours = await _offline_contact(a)
    theirs = await _offline_contact(b)
    address = email_thread.reply_address(ours)
    # From someone else's address: refused, nothing stored.
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(send, receiver, _reply(address, "Hi", "<x-1@evil.test>",
                                                        sender="mallory@evil.test"))
    assert refused.value.smtp_code == 550
    # Another conversation's number with our signature, or no signature: no such address.
    forged = address.replace(f"reply+{ours}-", f"reply+{theirs}-")
    for to in (forged, f"reply+{theirs}-{'0' * 20}@replyx.dev", "support@replyx.dev"):
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            await asyncio.to_thread(send, receiver, _reply(to, "Hi", "<x-2@example.org>"))
    assert await _messages(ours) == [("visitor", "Where is my parcel?")]
    assert await _messages(theirs) == [("visitor", "Where is my parcel?")]
