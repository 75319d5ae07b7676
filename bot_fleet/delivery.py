"""What a worker sends, and how: stored messages through the durable outbox (the sender
delivers them), replies that store nothing directly within the shared limits.

One `Delivery` per worker, reached by the routers through the dispatcher's data and by
the dialog-stream consumer: it holds the worker's bots, counters and the sender's poke, so
nothing here is a module global or imports the worker back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from aiogram import Bot

from backend_services.channels.telegram import limiter, operators, outbox
from backend_services.channels.telegram import updates as telegram_updates
from backend_services.channels.telegram.text import split_for_telegram
from backend_services.conversations.events import DialogChanged
from backend_services.core import catalogue, events
from bot_fleet import keyboards, registry
from bot_fleet.context import BotContext
from bot_fleet.stats import FleetStats


class AnyBot(Protocol):
    def any_bot(self, channel_id: int, token: str) -> Bot:
        """A Bot for any channel (this worker's or another's) on the worker's session."""


class Delivery:
    def __init__(self, bots: AnyBot, stats: FleetStats, poke: Callable[[], None]) -> None:
        self._bots = bots
        self._stats = stats
        self._poke = poke

    async def deliver_message(self, message_id: int) -> None:
        """A stored message (the AI's answer) goes out through the outbox, like every
        other."""
        if await outbox.enqueue_message(message_id, include_ai=True):
            self._poke()

    async def handle_dialog_event(self, event: events.Event) -> None:
        """The `fleet-outbox` consumer of the dialog stream: operator and system messages
        of Telegram dialogs become outbox rows (idempotently: a redelivered event adds
        nothing)."""
        if isinstance(event, DialogChanged):
            await outbox.handle_dialog_event(event, include_ai=True)
            await operators.forward(event)  # to an operator who took it from Telegram
            self._poke()
            if event.kind == "status" and event.status == "closed":
                await self._ask_for_rating(event.dialog_id)

    async def _ask_for_rating(self, dialog_id: int) -> None:
        """After the close message: the star keyboard (its answers arrive as callback
        queries). Once per close: the stream's consumer group hands each event to one
        worker."""
        target = await telegram_updates.telegram_chat_of(dialog_id)
        if target is None:
            return
        channel_id, chat_id, language = target
        bot_target = await registry.fleet_bot(channel_id)
        if bot_target is None:
            return
        bot = self._bots.any_bot(channel_id, bot_target.token)
        async with limiter.sending(bot_target.ctx.bot_id, chat_id, is_group=chat_id < 0):
            await bot.send_message(chat_id, catalogue.text(language, "telegram.rate_prompt"),
                                   reply_markup=keyboards.rating_keyboard(dialog_id))
        self._stats.count("sent")

    async def send_now(self, bot: Bot, ctx: BotContext, chat_id: int, text: str, *,
                       is_group: bool) -> None:
        """A reply that is not a stored message (the /start greeting, "text only,
        please"), within the shared limits. Not durable: if it is lost, the user simply
        asks again."""
        for part in split_for_telegram(text):
            async with limiter.sending(ctx.bot_id, chat_id, is_group=is_group):
                await bot.send_message(chat_id, part)
            self._stats.count("sent")

    @staticmethod
    async def queue_depth(channel_ids: set[int]) -> int:
        return await outbox.queue_depth(channel_ids) if channel_ids else 0
