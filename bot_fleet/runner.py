"""One bot's long-polling loop, supervised: a bad token, a network error or an exception
in one bot never stops another (aiogram's `start_polling(*bots)` cancels every bot when one
fails, so each bot here is its own task with its own error handling).

No update is lost when the worker dies: Telegram re-sends every update whose id is not
below the `offset` of the next getUpdates, and the offset only moves past an update once it
and every update before it have been handled. Updates still being handled come back in
later polls and are skipped in memory; after a crash they are handled again, and the
services make that harmless (the visitor's message carries `tg:<channel>:<update id>` as
its client id, the AI answers a question once). Updates of one chat are handled in order;
different chats in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import Update

from bot_fleet import stats
from bot_fleet.context import BotContext

log = logging.getLogger("replyx.fleet.runner")

POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates open
ALLOWED_UPDATES = ["message", "callback_query"]
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
# While every update Telegram returns is one we are still handling, wait until one
# finishes (at most this long) before asking again, instead of spinning on the same batch:
# under a backlog, re-polling every second tripled the getUpdates calls (fleet_load bench).
BUSY_WAIT = 10.0

# Updates handled at once by one worker, across all its bots: below the database pool
# (10 + 10 overflow), so a backlog makes the fleet slower instead of failing turns on pool
# timeouts. A waiting update is not confirmed to Telegram, so nothing is lost meanwhile.
HANDLING = asyncio.Semaphore(12)
HANDLE_ATTEMPTS = 3

StatusReporter = Callable[[BotContext, str, str], Awaitable[None]]


def _chat_of(update: Update) -> int:
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None and update.callback_query.message is not None:
        return update.callback_query.message.chat.id
    return 0


class BotRunner:
    def __init__(self, ctx: BotContext, bot: Bot, dispatcher: Dispatcher,
                 report: StatusReporter, webhook_secret: str = "",
                 webhook_url: str = "") -> None:
        self.ctx = ctx
        self.webhook_secret = webhook_secret
        self.webhook_url = webhook_url
        self.bot = bot
        self.dp = dispatcher
        self.report = report
        self.task: asyncio.Task[None] | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._done_above: set[int] = set()
        self._chat_locks: dict[int, asyncio.Lock] = {}
        self._offset = 0
        self._progress = asyncio.Event()

    def start(self) -> None:
        self.task = asyncio.create_task(self._supervise(), name=f"bot-{self.ctx.channel_id}")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self.task  # a loop that ended in error must not abort the shutdown
        for t in list(self._inflight.values()):
            t.cancel()
        await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    async def _say(self, status: str, error: str) -> None:
        """Report to the Channels page; a failing report (Redis busy or down) must never
        end the bot's loop."""
        try:
            await self.report(self.ctx, status, error)
        except Exception:
            log.warning("bot %s: could not report %r", self.ctx.channel_id, status,
                        exc_info=True)

    async def _supervise(self) -> None:
        delay = BACKOFF_FIRST
        while True:
            try:
                await self._prepare()
                await self._say("running", "")
                delay = BACKOFF_FIRST
                if self.ctx.mode == "webhook":
                    # Telegram calls the web app, which queues updates for the fleet.
                    await asyncio.Event().wait()
                await self._poll_forever()
            except asyncio.CancelledError:
                raise
            except TelegramUnauthorizedError:
                # A revoked or wrong token does not heal by retrying: wait for a change.
                await self._say("error",
                                "Telegram refused the token (revoked or wrong). Replace it.")
                stats.count("bot_errors")
                return
            except TelegramConflictError:
                await self._say("error", "Another program is polling this bot "
                                "(or a webhook is set elsewhere). Retrying.")
                stats.count("bot_errors")
            except (TelegramNetworkError, TelegramServerError) as exc:
                await self._say("error", f"Telegram unreachable: {exc.message}")
                stats.count("bot_errors")
            except Exception:
                log.exception("bot %s crashed; restarting", self.ctx.channel_id)
                await self._say("error", "Internal error; restarting.")
                stats.count("bot_errors")
            await asyncio.sleep(delay)  # backoff after a failure, not synchronisation
            delay = min(delay * 2, BACKOFF_MAX)

    async def _prepare(self) -> None:
        """Polling needs no webhook; a webhook-mode bot gets its URL and secret set."""
        if self.ctx.mode == "webhook":
            await self.bot.set_webhook(url=self.webhook_url, secret_token=self.webhook_secret,
                                       allowed_updates=ALLOWED_UPDATES)
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)

    async def _poll_forever(self) -> None:
        while True:
            try:
                updates = await self.bot.get_updates(
                    offset=self._offset or None, timeout=POLL_TIMEOUT,
                    allowed_updates=ALLOWED_UPDATES, request_timeout=POLL_TIMEOUT + 15)
            except TelegramRetryAfter as exc:
                stats.count("rate_limited")
                await asyncio.sleep(exc.retry_after)  # Telegram's own instruction
                continue
            fresh = [u for u in updates
                     if u.update_id not in self._inflight and u.update_id not in self._done_above]
            for update in fresh:
                self._inflight[update.update_id] = asyncio.create_task(self._handle(update))
            if updates and not fresh:
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), BUSY_WAIT)

    async def handle(self, update: Update) -> None:
        """An update that arrived by webhook (the fleet's update stream)."""
        lock = self._chat_locks.setdefault(_chat_of(update), asyncio.Lock())
        async with lock, HANDLING:
            await self.dp.feed_update(self.bot, update, ctx=self.ctx,
                                      update_id=update.update_id)

    async def _handle(self, update: Update) -> None:
        chat = _chat_of(update)
        lock = self._chat_locks.setdefault(chat, asyncio.Lock())
        try:
            for attempt in range(1, HANDLE_ATTEMPTS + 1):
                try:
                    async with lock, HANDLING:
                        await self.dp.feed_update(self.bot, update, ctx=self.ctx,
                                                  update_id=update.update_id)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # Handling is idempotent (client ids), so a transient failure (a pool
                    # timeout, Redis busy) is retried; after the last attempt the update is
                    # logged and confirmed, so one bad update never blocks the ones after it.
                    stats.count("update_errors")
                    if attempt == HANDLE_ATTEMPTS:
                        log.exception("bot %s: update %s failed", self.ctx.channel_id,
                                      update.update_id)
                    else:
                        await asyncio.sleep(attempt)  # backoff before the retry
        finally:
            self._inflight.pop(update.update_id, None)
            self._done_above.add(update.update_id)
            self._advance()
            if not lock.locked() and chat in self._chat_locks:
                self._chat_locks.pop(chat, None)
            self._progress.set()

    def _advance(self) -> None:
        """Move the offset past every handled update that has no unhandled one before it."""
        floor = min(self._inflight) if self._inflight else None
        handled = sorted(u for u in self._done_above if floor is None or u < floor)
        if handled:
            self._offset = max(self._offset, handled[-1] + 1)
            self._done_above.difference_update(handled)
