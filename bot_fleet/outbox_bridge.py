"""Between the handlers / dialog events and the durable outbox and limiter."""

from __future__ import annotations

from aiogram import Bot

from backend_services.channels.telegram import limiter, outbox
from backend_services.channels.telegram import updates as telegram_updates
from backend_services.channels.telegram.text import split_for_telegram
from backend_services.conversations.events import DialogChanged
from backend_services.core import events
from bot_fleet import stats
from bot_fleet.context import BotContext


async def deliver_message(message_id: int) -> None:
    """A stored message (the AI's answer) goes out through the outbox, like every other."""
    from bot_fleet.sender import poke

    if await outbox.enqueue_message(message_id, include_ai=True):
        poke()


async def handle_dialog_event(event: events.Event) -> None:
    """The `fleet-outbox` consumer of the dialog stream: operator and system messages of
    Telegram dialogs become outbox rows (idempotently: a redelivered event adds nothing)."""
    from bot_fleet.sender import poke

    if isinstance(event, DialogChanged):
        await outbox.handle_dialog_event(event, include_ai=True)
        poke()
        if event.kind == "status" and event.status == "closed":
            await _ask_for_rating(event.dialog_id)


RATE_PROMPT = {"en": "How was this conversation? Tap a rating.",
               "ru": "Как прошёл разговор? Поставьте оценку."}


async def _ask_for_rating(dialog_id: int) -> None:
    """After the close message: the star keyboard (its answers arrive as callback queries).
    Once per close: the stream's consumer group hands each event to one worker."""
    from bot_fleet import handlers, registry, worker

    target = await telegram_updates.telegram_chat_of(dialog_id)
    if target is None:
        return
    channel_id, chat_id, language = target
    bot_target = await registry.fleet_bot(channel_id)
    if bot_target is None:
        return
    bot = worker.shared_bot(channel_id, bot_target.token)
    await limiter.until_allowed(bot_target.ctx.bot_id, chat_id, is_group=chat_id < 0)
    await bot.send_message(chat_id, RATE_PROMPT.get(language, RATE_PROMPT["en"]),
                           reply_markup=handlers.rating_keyboard(dialog_id))
    stats.count("sent")


async def send_now(bot: Bot, ctx: BotContext, chat_id: int, text: str, *,
                   is_group: bool) -> None:
    """A reply that is not a stored message (the /start greeting, "text only, please"),
    within the shared limits. Not durable: if it is lost, the user simply asks again."""
    for part in split_for_telegram(text):
        await limiter.until_allowed(ctx.bot_id, chat_id, is_group=is_group)
        await bot.send_message(chat_id, part)
        stats.count("sent")


async def queue_depth(channel_ids: set[int]) -> int:
    return await outbox.queue_depth(channel_ids) if channel_ids else 0
