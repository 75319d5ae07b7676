"""What a Telegram user writes: text goes through `backend_services.conversations` exactly
as the widget's messages do (same grounded answers, same handoff); anything else gets
"text only, please".

Nothing is sent from here directly except the chat action and fixed replies: answers and
operator or system messages are stored first and delivered through the durable outbox, so
a crash between "answered" and "sent" loses nothing, and a redelivered update (the worker
died before confirming it) creates no second message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.types import Message

from backend_services.conversations import turns
from backend_services.core.errors import DomainError, RateLimited
from bot_fleet import contacts
from bot_fleet.context import BotContext
from bot_fleet.delivery import Delivery

log = logging.getLogger("replyx.fleet.messages")

TYPING_EVERY_SECONDS = 4.0  # Telegram shows "typing…" for about five seconds per action

router = Router(name="messages")


async def _keep_typing(bot: Bot, chat_id: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            await bot.send_chat_action(chat_id, ChatAction.TYPING)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TYPING_EVERY_SECONDS)


@router.message(F.text)
async def on_text(message: Message, bot: Bot, ctx: BotContext, update_id: int,
                  delivery: Delivery) -> None:
    assert message.text is not None
    actor = await contacts.actor_for(ctx, message.chat.id,
                                     contacts.display_name(message.from_user, message.chat))
    try:
        # Telegram hands an unconfirmed update out again until it is handled: a duplicate
        # is a redelivery, answered again while the AI has the chat (a stored answer is
        # replayed without a model call).
        started = await turns.handle_visitor_message(
            actor, message.text, f"tg:{ctx.channel_id}:{update_id}", redelivered=True)
    except RateLimited as exc:
        await delivery.send_now(bot, ctx, message.chat.id, exc.message,
                                is_group=contacts.is_group(message))
        return
    if not started.ai_should_answer:
        return
    posted = started.posted
    stop = asyncio.Event()
    typing = asyncio.create_task(_keep_typing(bot, message.chat.id, stop))
    try:
        done: turns.AiReplyDone | None = None
        async for item in turns.stream_ai_reply(actor, posted.dialog.id, posted.message.id):
            if isinstance(item, turns.AiReplyDone):
                done = item
    except DomainError as exc:  # e.g. a person took the chat meanwhile
        log.info("bot %s: no AI answer for dialog %s: %s", ctx.bot_id, posted.dialog.id,
                 exc.message)
        return
    finally:
        stop.set()
        await typing
    if done is not None:
        await delivery.deliver_message(done.message.id)


@router.message()
async def on_other(message: Message, bot: Bot, ctx: BotContext, delivery: Delivery) -> None:
    """Stickers, photos, voice: say what the assistant can read."""
    await delivery.send_now(bot, ctx, message.chat.id,
                            await contacts.fixed_text(ctx, "text_only"),
                            is_group=contacts.is_group(message))
