"""Delivers the durable outbox of this worker's bots, in order per chat, within the
shared rate limits.

Each claimed item is the oldest undelivered message of its chat (the outbox guarantees a
later message never overtakes an earlier one, across workers too); it is sent part by
part (Telegram's 4,096-character limit), each part recorded as sent before the next, so a
crash resends at most the part that was in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Protocol

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardMarkup

from backend_services.channels.telegram import limiter, outbox
from backend_services.core import outages
from backend_services.core.errors import RateLimited
from backend_services.core.settings import get_settings
from bot_fleet import registry
from bot_fleet.stats import FleetStats

log = logging.getLogger("replyx.fleet.sender")

CLAIM_LIMIT = 200
IDLE_WAIT = 1.0  # how long to wait for a poke before looking at the outbox again
PERSIST_ATTEMPTS = 5
# After a send, recording it waits this long for PostgreSQL to come back before the part is
# left to be resent: Telegram has it, so giving up early means the chat sees it twice.
PERSIST_OUTAGE_SECONDS = 600.0
OUTAGE_BACKOFF_MAX = 5.0


class OwnBots(Protocol):
    def bot_for(self, channel_id: int) -> Bot | None:
        """This worker's Bot for a channel it runs; None when it does not run it."""


class Sender:
    def __init__(self, bots: OwnBots, stats: FleetStats) -> None:
        self._bots = bots
        self._stats = stats
        self.channels: set[int] = set()
        self._busy: dict[tuple[int, int], asyncio.Task[None]] = {}
        self._poked = asyncio.Event()
        self._recording = 0  # sends whose bookkeeping waits out an outage: no claims

    def poke(self) -> None:
        """Something was just enqueued: look now rather than at the next idle tick."""
        self._poked.set()

    async def _persist(self, write: Callable[[], Awaitable[bool]]) -> bool:
        """A bookkeeping write after a successful send, retried through transient errors,
        and through an outage for as long as `PERSIST_OUTAGE_SECONDS`. Meanwhile the sender
        claims nothing: the row's lease may have run out, and a claim would send the part
        again."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PERSIST_OUTAGE_SECONDS
        attempt = 0
        self._recording += 1
        try:
            while True:
                attempt += 1
                try:
                    return await write()
                except Exception as exc:
                    outage = await outages.is_outage(exc)
                    if loop.time() > deadline or (not outage and attempt >= PERSIST_ATTEMPTS):
                        raise
                    # backoff before the retry
                    await asyncio.sleep(min(0.5 * attempt, OUTAGE_BACKOFF_MAX))
        finally:
            self._recording -= 1

    async def run(self) -> None:
        while True:
            claimed = []
            if self.channels and not self._recording:
                try:
                    claimed = await outbox.claim(self.channels, CLAIM_LIMIT,
                                                 get_settings().fleet_outbox_lease_seconds)
                except Exception:
                    log.exception("outbox claim failed")
            for item in claimed:
                key = (item.channel_id, item.chat_id)
                if key in self._busy:  # cannot happen with per-chat claims; be safe
                    continue
                task = asyncio.create_task(self._deliver(item))
                self._busy[key] = task
                task.add_done_callback(self._done(key))
            if not claimed:
                self._poked.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._poked.wait(), IDLE_WAIT)

    def _done(self, key: tuple[int, int]) -> Callable[[asyncio.Task[None]], None]:
        def forget(_task: asyncio.Task[None]) -> None:
            self._busy.pop(key, None)

        return forget

    async def _deliver(self, item: outbox.OutboxItem) -> None:
        bot = self._bots.bot_for(item.channel_id)
        if bot is None:  # the bot moved to another worker or stopped: leave it to them
            await outbox.postpone(item.id, IDLE_WAIT * 5, token=item.token)
            return
        try:
            last = len(item.parts) - 1
            for index, part in item.pending_parts:
                markup = (InlineKeyboardMarkup.model_validate(item.reply_markup)
                          if item.reply_markup and index == last else None)
                async with limiter.sending(bot.id, item.chat_id, is_group=item.is_group):
                    sent = await bot.send_message(item.chat_id, part, reply_markup=markup)
                self._stats.count("sent")
                # Telegram has the part now: recording it must not fail on a busy pool,
                # or the part would be sent again. Retried; False means our lease is gone.
                if not await self._persist(partial(outbox.mark_part_sent, item.id, index,
                                              sent.message_id, token=item.token)):
                    return
            if not await self._persist(partial(outbox.mark_sent, item.id, token=item.token)):
                return
            await registry.record_outgoing(item.channel_id)
            self.poke()  # the chat's next message may now be claimed
        except RateLimited:
            # The shared limiter says wait longer than we should block: not a failure.
            await outbox.postpone(item.id, IDLE_WAIT * 5, token=item.token)
        except TelegramRetryAfter as exc:
            self._stats.count("rate_limited")
            await limiter.pause_bot(bot.id, exc.retry_after)
            await outbox.postpone(item.id, exc.retry_after, token=item.token)
        except (TelegramForbiddenError, TelegramUnauthorizedError) as exc:
            self._stats.count("send_errors")
            await outbox.mark_failed(item.id, f"Telegram refused: {exc.message}",
                                     token=item.token)
        except TelegramBadRequest as exc:
            self._stats.count("send_errors")
            await outbox.mark_failed(item.id, f"Telegram rejected the message: {exc.message}",
                                     token=item.token)
        except (TelegramNetworkError, TelegramServerError) as exc:
            self._stats.count("send_errors")
            await outbox.retry_later(item.id, None,
                                     f"Telegram unreachable: {exc}", token=item.token)
        except Exception as exc:
            log.exception("delivering outbox item %s failed", item.id)
            self._stats.count("send_errors")
            await outbox.retry_later(item.id, None,
                                     type(exc).__name__, token=item.token)
