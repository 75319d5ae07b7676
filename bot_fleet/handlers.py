"""Telegram update handlers: aiogram routers per concern, the domain in backend_services.

Every path goes through `backend_services.conversations` exactly as the widget does, so a
Telegram user gets the same grounded answers and the same handoff. Nothing is sent from
here directly except the chat action and the rating keyboard: answers and operator or
system messages are stored first and delivered through the durable outbox
(bot_fleet/sender.py), so a crash between "answered" and "sent" loses nothing, and a
redelivered update (the worker died before confirming it) creates no second message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from backend_services.conversations import dialogs, turns
from backend_services.conversations.actors import ContactActor, contact_actor
from backend_services.core.errors import DomainError, RateLimited
from backend_services.models import Assistant
from bot_fleet import outbox_bridge, stats
from bot_fleet.context import BotContext

log = logging.getLogger("replyx.fleet.handlers")

TYPING_EVERY_SECONDS = 4.0  # Telegram shows "typing…" for about five seconds per action
RATE_PREFIX = "rate:"

commands = Router(name="commands")
messages = Router(name="messages")
callbacks = Router(name="callbacks")


async def _actor(ctx: BotContext, message_chat_id: int, name: str) -> ContactActor:
    return await contact_actor(ctx.workspace_id, ctx.assistant_id, "telegram",
                               str(message_chat_id), channel_id=ctx.channel_id, name=name)


def _name(message: Message) -> str:
    user = message.from_user
    if user is None:
        return message.chat.title or ""
    return " ".join(p for p in (user.first_name, user.last_name) if p) or (user.username or "")


TEXTS = {
    "en": {"greeting": "Hello! Ask me anything.",
           "text_only": "I can read text messages only. Please type your question."},
    "ru": {"greeting": "Здравствуйте! Задайте вопрос — я отвечу.",
           "text_only": "Я понимаю только текстовые сообщения. Напишите, пожалуйста, вопрос."},
}


async def _assistant(ctx: BotContext) -> Assistant | None:
    from backend_services.core.db import session_scope

    async with session_scope() as session:
        return await session.get(Assistant, ctx.assistant_id)


def _text(assistant: Assistant | None, key: str) -> str:
    language = assistant.language if assistant is not None else "en"
    return TEXTS.get(language, TEXTS["en"])[key]


async def _greeting(ctx: BotContext) -> str:
    assistant = await _assistant(ctx)
    return (assistant.greeting if assistant is not None else "") or _text(assistant, "greeting")


@commands.message(CommandStart())
async def on_start(message: Message, bot: Bot, ctx: BotContext) -> None:
    """/start: the assistant's greeting. Sent directly (it stores nothing to deliver)."""
    greeting = await _greeting(ctx)
    if greeting:
        await outbox_bridge.send_now(bot, ctx, message.chat.id, greeting,
                                     is_group=message.chat.type != "private")


@commands.message(Command("operator", "human", "оператор"))
async def on_operator(message: Message, ctx: BotContext) -> None:
    """/operator: ask for a person (the policy decides what happens; its system message
    reaches the chat through the outbox)."""
    actor = await _actor(ctx, message.chat.id, _name(message))
    current = await dialogs.open_dialog(actor)
    await turns.request_human(actor, current.id)


async def _keep_typing(bot: Bot, chat_id: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        with contextlib.suppress(Exception):
            await bot.send_chat_action(chat_id, ChatAction.TYPING)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), TYPING_EVERY_SECONDS)


@messages.message(F.text)
async def on_text(message: Message, bot: Bot, ctx: BotContext, update_id: int) -> None:
    assert message.text is not None
    stats.count("updates")
    actor = await _actor(ctx, message.chat.id, _name(message))
    try:
        started = await turns.handle_visitor_message(
            actor, message.text, f"tg:{ctx.channel_id}:{update_id}")
    except RateLimited as exc:
        await outbox_bridge.send_now(bot, ctx, message.chat.id, exc.message,
                                     is_group=message.chat.type != "private")
        return
    posted = started.posted
    # A redelivered update is a duplicate: answer only if the answer was never stored
    # (stream_ai_reply replays a stored one without a model call) and the AI has the chat.
    answer = started.ai_should_answer or (posted.duplicate and posted.dialog.status == "ai")
    if not answer:
        return
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
        await outbox_bridge.deliver_message(done.message.id)


@messages.message()
async def on_other(message: Message, bot: Bot, ctx: BotContext) -> None:
    """Stickers, photos, voice: say what the assistant can read."""
    await outbox_bridge.send_now(bot, ctx, message.chat.id,
                                 _text(await _assistant(ctx), "text_only"),
                                 is_group=message.chat.type != "private")


def rating_keyboard(dialog_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="★" * n, callback_data=f"{RATE_PREFIX}{dialog_id}:{n}")
        for n in range(1, 6)
    ]])


@callbacks.callback_query(F.data.startswith(RATE_PREFIX))
async def on_rate(query: CallbackQuery, bot: Bot, ctx: BotContext) -> None:
    """A star on the rating keyboard. The dialog id in the button is only a request:
    `dialogs.rate` checks that it is this chat's own dialog."""
    data = (query.data or "")[len(RATE_PREFIX):]
    dialog_text, _, score_text = data.partition(":")
    chat = query.message.chat if query.message is not None else None
    if chat is None or not dialog_text.isdigit() or not score_text.isdigit():
        await query.answer()
        return
    actor = await _actor(ctx, chat.id, query.from_user.full_name if query.from_user else "")
    try:
        await dialogs.rate(actor, int(dialog_text), int(score_text))
    except DomainError as exc:
        await query.answer(exc.message[:180])
        return
    await query.answer("Thank you!")


Handler = Callable[..., Awaitable[Any]]
ROUTERS = (commands, callbacks, messages)
