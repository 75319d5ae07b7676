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

An outage is not bad input: when PostgreSQL or Valkey is unreachable the update stays
unconfirmed, polling pauses with backoff until both answer, and Telegram then hands out
every unconfirmed update again. Only an update that fails for other reasons, several
times, is confirmed unhandled (logged), so one malformed update cannot block a bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import Update

from backend_services.channels.telegram.status import FleetStatus
from backend_services.core import outages
from bot_fleet.context import BotContext
from bot_fleet.stats import FleetStats

log = logging.getLogger("replyx.fleet.runner")

POLL_TIMEOUT = 25  # seconds Telegram holds a getUpdates open
ALLOWED_UPDATES = ("message", "callback_query")
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
# While every update Telegram returns is one we are still handling, wait until one
# finishes (at most this long) before asking again, instead of spinning on the same batch:
# under a backlog, re-polling every second tripled the getUpdates calls (fleet_load bench).
BUSY_WAIT = 10.0

# Updates handled at once by one worker, across all its bots (the worker's `handling`
# semaphore): below the database pool (10 + 10 overflow), so a backlog makes the fleet
# slower instead of failing turns on pool timeouts. A waiting update is not confirmed to
# Telegram, so nothing is lost meanwhile.
HANDLING_AT_ONCE = 12
HANDLE_ATTEMPTS = 3

# An outage (PostgreSQL or Valkey unreachable) pauses polling with this backoff until
# both answer again; unconfirmed updates wait at Telegram meanwhile (kept for 24 hours).
OUTAGE_FIRST, OUTAGE_MAX = 0.5, 5.0
# A webhook update waits this long for an outage to end before it is left to the stream's
# redelivery: below the consumer group's claim time (30 s).
WEBHOOK_OUTAGE_SECONDS = 20.0

StatusReporter = Callable[[BotContext, FleetStatus, str], Awaitable[None]]


def _chat_of(update: Update) -> int:
    if update.message is not None:
        return update.message.chat.id
    if update.callback_query is not None and update.callback_query.message is not None:
        return update.callback_query.message.chat.id
    return 0


class ChatLocks:
    """One lock per chat, kept while anyone holds or waits for it: updates of one chat are
    handled one at a time, in the order they asked. (Dropping an entry when its lock is
    merely unlocked loses the waiters: the next update makes a fresh lock and overtakes.)"""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, list[int]]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, chat: int) -> AsyncIterator[None]:
        lock, users = self._locks.setdefault(chat, (asyncio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._locks[chat]


@dataclass(frozen=True)
class RunnerServices:
    """What every runner of a worker shares: the worker's dispatcher, status board,
    counters and the semaphore bounding how many updates it handles at once."""

    dispatcher: Dispatcher
    report: StatusReporter
    stats: FleetStats
    handling: asyncio.Semaphore


class BotRunner:
    def __init__(self, ctx: BotContext, bot: Bot, services: RunnerServices,
                 webhook_secret: str = "", webhook_url: str = "") -> None:
        self.ctx, self.bot = ctx, bot
        self.dp, self.report = services.dispatcher, services.report
        self.stats, self.handling = services.stats, services.handling
        self.webhook_secret, self.webhook_url = webhook_secret, webhook_url
        self.task: asyncio.Task[None] | None = None
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._done_above: set[int] = set()
        self._unstored: set[int] = set()  # fetched, deferred by an outage, unconfirmed
        self._chats = ChatLocks()
        self._epoch = 0
        self._outage = False
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

    async def _say(self, status: FleetStatus, error: str) -> None:
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
                self.stats.count("bot_errors")
                return
            except TelegramConflictError:
                await self._say("error", "Another program is polling this bot "
                                "(or a webhook is set elsewhere). Retrying.")
                self.stats.count("bot_errors")
            except (TelegramNetworkError, TelegramServerError) as exc:
                await self._say("error", f"Telegram unreachable: {exc.message}")
                self.stats.count("bot_errors")
            except Exception:
                log.exception("bot %s crashed; restarting", self.ctx.channel_id)
                await self._say("error", "Internal error; restarting.")
                self.stats.count("bot_errors")
            await asyncio.sleep(delay)  # backoff after a failure, not synchronisation
            delay = min(delay * 2, BACKOFF_MAX)

    async def _prepare(self) -> None:
        """Polling needs no webhook; a webhook-mode bot gets its URL and secret set."""
        if self.ctx.mode == "webhook":
            await self.bot.set_webhook(url=self.webhook_url, secret_token=self.webhook_secret,
                                       allowed_updates=list(ALLOWED_UPDATES))
        else:
            await self.bot.delete_webhook(drop_pending_updates=False)

    async def _poll_forever(self) -> None:
        while True:
            if self._outage:
                await self._wait_out_outage()
            try:
                updates = await self.bot.get_updates(
                    offset=self._offset or None, timeout=POLL_TIMEOUT,
                    allowed_updates=list(ALLOWED_UPDATES), request_timeout=POLL_TIMEOUT + 15)
            except TelegramRetryAfter as exc:
                self.stats.count("rate_limited")
                await asyncio.sleep(exc.retry_after)  # Telegram's own instruction
                continue
            fresh = [u for u in updates
                     if u.update_id not in self._inflight and u.update_id not in self._done_above]
            for update in fresh:  # in update_id order: each chat's queue forms in order
                self._unstored.discard(update.update_id)
                self._inflight[update.update_id] = asyncio.create_task(
                    self._handle(update, self._epoch))
            if updates and not fresh:
                self._progress.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._progress.wait(), BUSY_WAIT)

    async def handle(self, update: Update) -> None:
        """An update that arrived by webhook (the fleet's update stream). During an outage
        it is retried here, in its chat's turn, for up to `WEBHOOK_OUTAGE_SECONDS`; then
        the error propagates and the stream entry stays unacknowledged, to be claimed
        again later (never dropped)."""
        deadline = asyncio.get_running_loop().time() + WEBHOOK_OUTAGE_SECONDS
        delay = OUTAGE_FIRST
        async with self._chats.hold(_chat_of(update)):
            while True:
                try:
                    async with self.handling:
                        await self.dp.feed_update(self.bot, update, ctx=self.ctx,
                                                  update_id=update.update_id)
                    self.stats.count("updates")
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    now = asyncio.get_running_loop().time()
                    if now + delay > deadline or not await self._is_outage(exc):
                        raise
                    self.stats.count("update_errors")
                    await asyncio.sleep(delay)  # backoff while a dependency is down
                    delay = min(delay * 2, OUTAGE_MAX)

    @staticmethod
    async def _is_outage(exc: BaseException) -> bool:
        if isinstance(exc, (TelegramNetworkError, TelegramServerError, TelegramRetryAfter)):
            return True
        return await outages.is_outage(exc)

    async def _handle(self, update: Update, epoch: int) -> None:
        """Handle one polled update in its chat's turn. Its outcome decides confirmation:
        handled (or given up on as bad input) lets the offset move past it; deferred (an
        outage) keeps it unconfirmed, so Telegram hands it out again after the pause."""
        handled = False
        try:
            async with self._chats.hold(_chat_of(update)):
                handled = await self._handle_in_turn(update, epoch)
        finally:
            self._inflight.pop(update.update_id, None)
            if handled:
                self._done_above.add(update.update_id)
            else:
                self._unstored.add(update.update_id)
            self._advance()
            self._progress.set()

    async def _handle_in_turn(self, update: Update, epoch: int) -> bool:
        for attempt in range(1, HANDLE_ATTEMPTS + 1):
            try:
                async with self.handling:
                    if epoch != self._epoch:
                        # An update failed on an outage since this one was fetched: an
                        # earlier update of this chat may be among the deferred, so this
                        # one waits for the re-fetch too, or it would overtake it.
                        return False
                    await self.dp.feed_update(self.bot, update, ctx=self.ctx,
                                              update_id=update.update_id)
                self.stats.count("updates")
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats.count("update_errors")
                if await self._is_outage(exc):
                    self._begin_outage(update, exc)
                    return False
                # Not an outage: handling is idempotent (client ids), so it is retried a
                # few times; then it is bad input that can never be handled, and it is
                # confirmed (logged) so it does not block the updates after it for ever.
                if attempt == HANDLE_ATTEMPTS:
                    log.exception("bot %s: update %s failed %d times; confirmed unhandled",
                                  self.ctx.channel_id, update.update_id, attempt)
                    return True
                await asyncio.sleep(attempt)  # backoff before the retry
        return True

    def _begin_outage(self, update: Update, exc: BaseException) -> None:
        """Pause polling; every update fetched before now that has not started is deferred
        (a new epoch) so the chat's order survives the re-fetch."""
        self._epoch += 1
        if not self._outage:
            # The type only: connection errors can carry host names and parameters.
            log.warning("bot %s: %s while handling update %s; polling paused, the update "
                        "stays unconfirmed", self.ctx.channel_id, type(exc).__name__,
                        update.update_id)
        self._outage = True

    async def _wait_out_outage(self) -> None:
        """Back off until PostgreSQL and Valkey answer again, then poll: Telegram returns
        every unconfirmed update (the offset never moved past them)."""
        await self._say("error", "Database or Redis unreachable; messages wait at Telegram.")
        delay = OUTAGE_FIRST
        started = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(delay)  # backoff during an outage, not synchronisation
            if not await outages.dependencies_down():
                break
            delay = min(delay * 2, OUTAGE_MAX)
        self._outage = False
        log.info("bot %s: dependencies answer again after %.1f s; polling resumes",
                 self.ctx.channel_id, asyncio.get_running_loop().time() - started)
        await self._say("running", "")

    def _advance(self) -> None:
        """Move the offset past every handled update that has no unhandled one before it."""
        waiting = self._inflight.keys() | self._unstored
        floor = min(waiting) if waiting else None
        handled = sorted(u for u in self._done_above if floor is None or u < floor)
        if handled:
            self._offset = max(self._offset, handled[-1] + 1)
            self._done_above.difference_update(handled)
