"""Operators in Telegram: an operator links their Telegram account through one of the
workspace's bots, hears there that a visitor is waiting, takes the conversation with a
button and answers from the chat.

Linking. From Settings the operator makes a one-time deep link
(`https://t.me/<bot>?start=op-<token>`, valid LINK_MINUTES); opening it in Telegram sends
/start with the token to that bot, which links the sender's account. Only the token's
hash is stored, and a used or expired token links nothing.

The walls are the console's: every action from Telegram is done as the linked person
(`operator_chat` builds their principal from their membership in the bot's own
workspace, refusing a blocked account or a removed member), through the same services
(`handoff.accept`, `dialogs.operator_reply`, …), so a Telegram account linked to one
workspace reaches no other workspace's conversation — the bot it writes to belongs to
one workspace, and the conversation is loaded within it.

Everything sent to the operator's chat (alerts, visitors' messages of the conversation
they took) goes through the Telegram outbox (`outbox.enqueue_for_operator`): the same
claims, retries, order and rate limits as every message. Unlinking deletes the link and
what was still queued for that chat, so nothing more arrives, and the chat's messages
are an ordinary visitor's again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.channels.telegram import outbox
from backend_services.conversations import dialogs, handoff
from backend_services.conversations.events import DialogChanged
from backend_services.conversations.views import DialogView, MessageView
from backend_services.core import catalogue
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.security import new_token, token_hash
from backend_services.core.settings import get_settings
from backend_services.models import (
    Channel,
    Contact,
    Dialog,
    Membership,
    Message,
    Role,
    TelegramOperator,
    User,
    Workspace,
)

LINK_MINUTES = 15
START_PREFIX = "op-"
TAKE_PREFIX = "op:take:"
PREVIEW = 300
QUEUE_SHOWN = 5


@dataclass(frozen=True)
class LinkView:
    channel_id: int
    bot_username: str
    linked: bool
    telegram_name: str
    link_url: str = ""  # only right after `start_link`: the token is not stored
    expires_at: datetime | None = None


@dataclass(frozen=True)
class OperatorChat:
    """A linked operator writing to their workspace's bot."""

    principal: Principal
    channel_id: int
    chat_id: int
    language: str
    current_dialog_id: int | None


def _text(language: str, key: str, **values: Any) -> str:
    return catalogue.text(language, f"telegram.{key}", **{k: str(v) for k, v in values.items()})


async def linkable_bots(principal: Principal) -> list[tuple[int, str]]:
    """(channel id, @username) of the workspace's Telegram bots."""
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        rows = await session.exec(select(col(Channel.id), col(Channel.username)).where(
            col(Channel.workspace_id) == principal.workspace_id,
            col(Channel.kind) == "telegram", col(Channel.username) != "")
            .order_by(col(Channel.id)))
        return [(int(i or 0), str(u)) for i, u in rows]


async def _row(session: AsyncSession, principal: Principal) -> TelegramOperator | None:
    return (await session.exec(select(TelegramOperator).where(
        col(TelegramOperator.workspace_id) == principal.workspace_id,
        col(TelegramOperator.user_id) == principal.user_id))).first()


async def link_status(principal: Principal) -> LinkView | None:
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        row = await _row(session, principal)
        if row is None:
            return None
        channel = await session.get(Channel, row.channel_id)
        return LinkView(row.channel_id, channel.username if channel else "",
                        row.linked_at is not None, row.telegram_name)


async def start_link(principal: Principal, channel_id: int) -> LinkView:
    """A fresh one-time link through this bot (replacing any earlier link)."""
    principal.require(Role.OPERATOR)
    token = new_token()
    expires = datetime.now(UTC) + timedelta(minutes=LINK_MINUTES)
    async with session_scope() as session:
        channel = await session.get(Channel, channel_id)
        if channel is None or channel.workspace_id != principal.workspace_id or \
                channel.kind != "telegram" or not channel.username:
            raise NotFound("That bot was not found.")
        await _forget(session, principal)
        session.add(TelegramOperator(
            workspace_id=principal.workspace_id, user_id=principal.user_id,
            channel_id=channel_id, link_token_hash=token_hash(token), token_expires_at=expires))
    return LinkView(channel_id, channel.username, False, "",
                    f"https://t.me/{channel.username}?start={START_PREFIX}{token}", expires)


async def _forget(session: AsyncSession, principal: Principal) -> None:
    """Drop the link and anything still queued for its chat."""
    row = await _row(session, principal)
    if row is None:
        return
    if row.chat_id is not None:
        await session.exec(sa.delete(outbox._T).where(  # type: ignore[call-overload]
            outbox._T.c.channel_id == row.channel_id, outbox._T.c.chat_id == row.chat_id,
            outbox._T.c.message_id.is_(None), outbox._T.c.status.in_(("queued", "sending"))))
    await session.delete(row)
    await session.flush()


async def unlink(principal: Principal) -> None:
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        await _forget(session, principal)


async def complete_link(channel_id: int, workspace_id: int, token: str,
                        telegram_user_id: int, chat_id: int, name: str) -> str:
    """The /start of a deep link: what to answer in the chat."""
    now = datetime.now(UTC)
    async with session_scope() as session:
        row = (await session.exec(select(TelegramOperator).where(
            col(TelegramOperator.channel_id) == channel_id,
            col(TelegramOperator.workspace_id) == workspace_id,
            col(TelegramOperator.link_token_hash) == token_hash(token)).with_for_update()
        )).first()
        workspace = await session.get(Workspace, workspace_id)
        user = await session.get(User, row.user_id) if row is not None else None
        language = user.language if user is not None else "en"
        if row is None or row.token_expires_at is None or row.token_expires_at < now or \
                workspace is None:
            return _text(language, "operator_link_invalid")
        # One Telegram account is one operator per bot: a second link of it moves it.
        await session.exec(sa.delete(TelegramOperator).where(  # type: ignore[call-overload]
            col(TelegramOperator.channel_id) == channel_id,
            col(TelegramOperator.telegram_user_id) == telegram_user_id,
            col(TelegramOperator.id) != row.id))
        row.telegram_user_id, row.chat_id = telegram_user_id, chat_id
        row.telegram_name = name[:120]
        row.link_token_hash, row.token_expires_at, row.linked_at = None, None, now
        session.add(row)
        return _text(language, "operator_linked", workspace=workspace.name)


async def operator_chat(channel_id: int, workspace_id: int,
                        telegram_user_id: int) -> OperatorChat | None:
    """The linked operator behind this Telegram account on this bot, as the console would
    know them now; None for anyone else (they are an ordinary visitor)."""
    async with session_scope() as session:
        row = (await session.exec(
            select(TelegramOperator, Membership.role, User)
            .join(Membership, sa.and_(
                col(Membership.user_id) == col(TelegramOperator.user_id),
                col(Membership.workspace_id) == col(TelegramOperator.workspace_id)))
            .join(User, col(User.id) == col(TelegramOperator.user_id))
            .where(col(TelegramOperator.channel_id) == channel_id,
                   col(TelegramOperator.workspace_id) == workspace_id,
                   col(TelegramOperator.telegram_user_id) == telegram_user_id,
                   col(TelegramOperator.linked_at).is_not(None)))).first()
    if row is None:
        return None
    link, role, user = row
    if user.is_blocked or link.chat_id is None:
        return None
    principal = Principal(user_id=link.user_id, workspace_id=workspace_id, role=Role(role),
                          email=user.email, name=user.name)
    return OperatorChat(principal, channel_id, int(link.chat_id), user.language,
                        link.current_dialog_id)


async def _set_current(op: OperatorChat, dialog_id: int | None) -> None:
    async with session_scope() as session:
        await session.exec(sa.update(TelegramOperator).where(  # type: ignore[call-overload]
            col(TelegramOperator.workspace_id) == op.principal.workspace_id,
            col(TelegramOperator.user_id) == op.principal.user_id)
            .values(current_dialog_id=dialog_id))


async def take(op: OperatorChat, dialog_id: int) -> DialogView:
    """Take the conversation as the console's "Take over" does (same checks)."""
    view = await handoff.accept(op.principal, dialog_id)
    await _set_current(op, dialog_id)
    return view


async def reply(op: OperatorChat, text: str, update_id: int) -> MessageView:
    if op.current_dialog_id is None:
        raise ValidationFailed(_text(op.language, "operator_no_conversation"))
    return await dialogs.operator_reply(op.principal, op.current_dialog_id, text,
                                        f"tgop:{op.channel_id}:{update_id}")


async def release(op: OperatorChat) -> int:
    if op.current_dialog_id is None:
        raise ValidationFailed(_text(op.language, "operator_no_conversation"))
    await handoff.release(op.principal, op.current_dialog_id)
    await _set_current(op, None)
    return op.current_dialog_id


async def close(op: OperatorChat) -> int:
    if op.current_dialog_id is None:
        raise ValidationFailed(_text(op.language, "operator_no_conversation"))
    await handoff.close(op.principal, op.current_dialog_id, "closed from Telegram")
    await _set_current(op, None)
    return op.current_dialog_id


async def waiting(op: OperatorChat) -> list[tuple[int, str]]:
    """(dialog id, preview) of the workspace's conversations waiting for a person."""
    async with session_scope() as session:
        rows = await session.exec(select(col(Dialog.id), col(Dialog.last_message_preview))
                                  .where(col(Dialog.workspace_id) == op.principal.workspace_id,
                                         col(Dialog.status) == "requested")
                                  .order_by(col(Dialog.handoff_requested_at))
                                  .limit(QUEUE_SHOWN))
        return [(int(i or 0), str(p)) for i, p in rows]


def take_keyboard(language: str, dialog_id: int) -> dict[str, Any]:
    console = f"{get_settings().base_url}/console?d={dialog_id}"
    return {"inline_keyboard": [[
        {"text": _text(language, "operator_take"), "callback_data": f"{TAKE_PREFIX}{dialog_id}"},
        {"text": _text(language, "operator_open"), "url": console},
    ]]}


def read_take(data: str | None) -> int | None:
    if not data or not data.startswith(TAKE_PREFIX) or not data[len(TAKE_PREFIX):].isdigit():
        return None
    return int(data[len(TAKE_PREFIX):])


_LATEST_VISITOR_SQL = sa.text("""
SELECT content FROM messages WHERE dialog_id = :d AND workspace_id = :w AND sender = 'visitor'
ORDER BY id DESC LIMIT 1
""")


async def alert(session: AsyncSession, *, workspace_id: int, request_id: int, event: str,
                dialog_id: int, minutes: Any = "") -> set[int]:
    """Queue "a visitor is waiting" (or past the timeout) for every linked operator of the
    workspace who has not turned the event off; once per request and person (notifications
    call it while expanding the request). Returns the channels to wake."""
    workspace = await session.get(Workspace, workspace_id)
    latest = (await session.exec(_LATEST_VISITOR_SQL, params={  # type: ignore[call-overload]
        "d": dialog_id, "w": workspace_id})).first()
    preview = (latest[0] if latest else "")[:PREVIEW]
    rows = await session.exec(sa.text("""
        SELECT o.id, o.channel_id, o.chat_id, u.language FROM telegram_operators o
        JOIN memberships m ON m.user_id = o.user_id AND m.workspace_id = o.workspace_id
        JOIN users u ON u.id = o.user_id
        LEFT JOIN notification_settings s ON s.workspace_id = o.workspace_id
          AND s.user_id = o.user_id AND s.event = :e
        WHERE o.workspace_id = :w AND o.linked_at IS NOT NULL AND o.chat_id IS NOT NULL
          AND NOT u.is_blocked AND coalesce(s.email, true)
        """), params={"w": workspace_id, "e": event})  # type: ignore[call-overload]
    woken: set[int] = set()
    for link_id, channel_id, chat_id, language in rows:
        key = "operator_sla" if event == "sla" else "operator_waiting"
        text = _text(language, key, workspace=workspace.name if workspace else "",
                     dialog=dialog_id, preview=preview, minutes=minutes)
        if await outbox.enqueue_for_operator(
                session, workspace_id=workspace_id, channel_id=int(channel_id),
                chat_id=int(chat_id), dialog_id=dialog_id, text=text,
                key=f"alert:{request_id}:{link_id}",
                reply_markup=take_keyboard(language, dialog_id)):
            woken.add(int(channel_id))
    return woken


async def forward(event: DialogChanged) -> None:
    """A visitor's message in a conversation an operator took from Telegram reaches their
    chat (the fleet's dialog-stream consumer calls this; a redelivered event queues
    nothing more)."""
    if event.kind != "message" or event.by != "visitor" or event.message_id is None:
        return
    async with session_scope() as session:
        rows = list(await session.exec(
            select(TelegramOperator, User.language, Message.content, Contact.name)
            .join(User, col(User.id) == col(TelegramOperator.user_id))
            .join(Message, col(Message.id) == event.message_id)
            .join(Dialog, col(Dialog.id) == col(Message.dialog_id))
            .join(Contact, col(Contact.id) == col(Dialog.contact_id))
            .where(col(TelegramOperator.workspace_id) == event.workspace_id,
                   col(TelegramOperator.current_dialog_id) == event.dialog_id,
                   col(Message.workspace_id) == event.workspace_id,
                   col(Dialog.assigned_user_id) == col(TelegramOperator.user_id),
                   col(TelegramOperator.chat_id).is_not(None))))
        woken: set[int] = set()
        for link, language, content, name in rows:
            assert link.chat_id is not None
            text = _text(language, "operator_visitor_says", dialog=event.dialog_id,
                         name=name or _text(language, "operator_visitor"),
                         text=content)
            if await outbox.enqueue_for_operator(
                    session, workspace_id=event.workspace_id, channel_id=link.channel_id,
                    chat_id=link.chat_id, dialog_id=event.dialog_id, text=text,
                    key=f"fwd:{event.message_id}:{link.id}"):
                woken.add(link.channel_id)
    for channel_id in woken:
        await outbox.wake(event.workspace_id, channel_id)
