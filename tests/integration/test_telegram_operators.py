"""Operators in Telegram, through the real fleet and the Telegram test server: an operator
links their account with the one-time deep link, hears that a visitor waits, takes the
conversation with the button and answers from the chat, sees the visitor's next message
there; an account linked to one workspace cannot take another's conversation; unlinking
stops everything."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from sqlalchemy import text
from sqlmodel import col, select

from backend_services.channels.telegram import operators
from backend_services.conversations import turns
from backend_services.core.db import session_scope
from backend_services.models import Dialog, Message
from backend_services.notifications.service import run_once
from tests.integration.conversation_helpers import Shop, eventually, visitor
from tests.integration.test_fleet import (  # noqa: F401  (fixtures)
    NEIGHBOUR,
    TOKEN,
    WAIT,
    Fleet,
    _said,
    _shop_with_bot,
    fleet,
    telegram,
)
from tests.support.telegram_server import TelegramTestServer

ANNA_CHAT = 7001


async def _waiting(s: Shop, external_id: str, question: str) -> int:
    who = await visitor(s.bot, external_id)
    start = await turns.handle_visitor_message(who, question, None)
    await turns.request_human(who, start.posted.dialog.id)
    return start.posted.dialog.id


async def _dialog(dialog_id: int) -> Dialog:
    async with session_scope() as session:
        row = await session.get(Dialog, dialog_id)
    assert row is not None
    return row


async def test_an_operator_takes_and_answers_from_telegram_behind_the_same_walls(
    fleet: Fleet, telegram: TelegramTestServer  # noqa: F811 (the fixtures)
) -> None:
    s, channel_id = await _shop_with_bot("op")
    b, _ = await _shop_with_bot("op-b", NEIGHBOUR)
    await telegram.wait_until_polling(TOKEN, timeout=WAIT)

    link = await operators.start_link(s.anna, channel_id)
    assert link.link_url.startswith("https://t.me/shop_help_bot?start=op-")
    start = parse_qs(urlsplit(link.link_url).query)["start"][0]
    telegram.push_message(TOKEN, ANNA_CHAT, f"/start {start}", from_name="Anna")
    await _said(telegram, TOKEN, ANNA_CHAT, "Linked", fleet)
    status = await operators.link_status(s.anna)
    assert status is not None and status.linked and status.telegram_name == "Anna"
    # The link works once.
    telegram.push_message(TOKEN, 7002, f"/start {start}", from_name="Eve")
    await _said(telegram, TOKEN, 7002, "expired or was used", fleet)

    dialog_id = await _waiting(s, "v1", "My order never arrived")
    await run_once(with_weekly=False)
    await _said(telegram, TOKEN, ANNA_CHAT, "My order never arrived", fleet)
    alert = telegram.sent_messages(TOKEN, ANNA_CHAT)[-1]
    assert f"op:take:{dialog_id}" in str(alert.reply_markup)
    assert f"/console?d={dialog_id}" in str(alert.reply_markup)

    telegram.push_callback(TOKEN, ANNA_CHAT, f"op:take:{dialog_id}")
    await _said(telegram, TOKEN, ANNA_CHAT, f"#{dialog_id} is yours", fleet)
    taken = await _dialog(dialog_id)
    assert (taken.status, taken.assigned_user_id) == ("active", s.anna.user_id)

    telegram.push_message(TOKEN, ANNA_CHAT, "Sorry! Sending a new one today.",
                          from_name="Anna")

    async def replied() -> Message | None:
        async with session_scope() as session:
            return (await session.exec(select(Message).where(
                col(Message.dialog_id) == dialog_id, col(Message.sender) == "operator"))
            ).first()
    reply = await eventually(replied, "the operator's reply", timeout=WAIT)
    assert (reply.content, reply.author_user_id) == ("Sorry! Sending a new one today.",
                                                     s.anna.user_id)

    # The visitor answers in the widget: it reaches Anna's chat.
    who = await visitor(s.bot, "v1")
    await turns.handle_visitor_message(who, "Thank you, the address is the same", None)
    await _said(telegram, TOKEN, ANNA_CHAT, "the address is the same", fleet)

    # Workspace B's waiting visitor: Anna's account (linked to A) cannot take it.
    theirs = await _waiting(b, "v-b", "Hello from B")
    telegram.push_callback(TOKEN, ANNA_CHAT, f"op:take:{theirs}")
    await _said(telegram, TOKEN, ANNA_CHAT, "cannot be taken", fleet)
    assert ((await _dialog(theirs)).status, (await _dialog(theirs)).assigned_user_id) == (
        "requested", None)
    # Someone never linked presses a forwarded button: nothing happens to A's queue.
    second = await _waiting(s, "v2", "Is anyone there?")
    telegram.push_callback(TOKEN, 7003, f"op:take:{second}", from_name="Mallory")
    await telegram.wait_for(lambda: len(telegram.calls(TOKEN, "answerCallbackQuery")) >= 3,
                            WAIT)
    assert (await _dialog(second)).status == "requested"

    # Unlinked: the next waiting visitor is not told there, and Anna's chat is a visitor's.
    await operators.unlink(s.anna)
    await run_once(with_weekly=False)  # the alert for `second` was dropped with the link
    await _waiting(s, "v3", "Hello again")
    await run_once(with_weekly=False)
    async with session_scope() as session:
        queued = (await session.exec(text(  # type: ignore[call-overload]
            "SELECT count(*) FROM telegram_outbox WHERE chat_id = :c AND message_id IS NULL "
            "AND status IN ('queued', 'sending')"), params={"c": ANNA_CHAT})).one()[0]
    assert queued == 0
    assert await operators.link_status(s.anna) is None
