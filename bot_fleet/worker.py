"""A fleet worker process: runs its shard of the polling bots, delivers the outbox for
them, and turns dialog events into outbox rows.

`python -m bot_fleet worker --index I --count N`, started by the supervisor. A bot belongs
to the worker whose index is `channel_id % N`: stable while N stays the same, and every
worker computes it alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import resource
import signal
from datetime import timedelta

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Update

from backend_services.channels.telegram import outbox
from backend_services.channels.telegram.updates import UPDATES_STREAM, TelegramUpdateReceived
from backend_services.conversations import intent
from backend_services.conversations.events import DIALOG_STREAM
from backend_services.core import events, heartbeats
from backend_services.core.settings import get_settings
from bot_fleet import registry
from bot_fleet.context import BotContext
from bot_fleet.delivery import Delivery
from bot_fleet.dispatcher import build_dispatcher
from bot_fleet.runner import HANDLING_AT_ONCE, BotRunner, RunnerServices
from bot_fleet.sender import Sender
from bot_fleet.stats import FleetStats, ident

log = logging.getLogger("replyx.fleet.worker")

RECONCILE_SECONDS = 30.0
STATS_SECONDS = 5.0
UPKEEP_SECONDS = 60.0
CATCH_UP = timedelta(hours=24)


def _raise_open_files_limit() -> None:
    """Every bot holds a socket (DESIGN.md §7)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def _warm_intent() -> None:
    """The intent detector's examples, embedded off the users' path (rules meanwhile)."""
    try:
        await intent.warm()
    except Exception:
        log.warning("could not embed the intent examples; rules alone decide", exc_info=True)


class Worker:
    def __init__(self, index: int, count: int) -> None:
        self.index, self.count = index, count
        s = get_settings()
        # One HTTP session for every bot of the worker, sized to them: aiohttp's default
        # limit of 100 connections would starve bots past the 100th (each waiting long
        # poll holds a connection).
        self.session = AiohttpSession(api=TelegramAPIServer.from_base(s.telegram_api_base),
                                      limit=s.fleet_max_bots_per_worker + 64)
        # The worker's services, handed to what needs them (the routers through the
        # dispatcher's data): nothing in the fleet is reached through a module global.
        self.stats = FleetStats()
        self.statuses = registry.StatusBoard(ident())
        self.sender = Sender(self, self.stats)
        self.delivery = Delivery(self, self.stats, self.sender.poke)
        self.dp: Dispatcher = build_dispatcher(self.delivery, self.stats)
        self.services = RunnerServices(self.dp, self.statuses.report, self.stats,
                                       asyncio.Semaphore(HANDLING_AT_ONCE))
        self.runners: dict[int, BotRunner] = {}
        self.bots: dict[int, Bot] = {}
        self._changed = asyncio.Event()
        self._transient: dict[int, Bot] = {}  # webhook bots of other shards

    def _runner(self, ctx: BotContext, bot: Bot, *, webhook_secret: str = "",
                webhook_url: str = "") -> BotRunner:
        return BotRunner(ctx, bot, self.services, webhook_secret=webhook_secret,
                         webhook_url=webhook_url)

    def mine(self, channel_id: int) -> bool:
        return channel_id % self.count == self.index

    def bot_for(self, channel_id: int) -> Bot | None:
        return self.bots.get(channel_id)

    def any_bot(self, channel_id: int, token: str) -> Bot:
        bot = self.bots.get(channel_id) or self._transient.get(channel_id)
        if bot is None or bot.token != token:
            bot = self._transient[channel_id] = Bot(token=token, session=self.session)
        return bot

    async def reconcile(self) -> None:
        """Run exactly the bots the database says this shard should run."""
        wanted = {b.ctx.channel_id: b for b in await registry.fleet_bots()
                  if self.mine(b.ctx.channel_id)}
        for channel_id in list(self.runners):
            runner = self.runners[channel_id]
            target = wanted.get(channel_id)
            if target is None or target.ctx.version != runner.ctx.version:
                await runner.stop()
                del self.runners[channel_id]
                self.bots.pop(channel_id, None)
                if target is None:
                    await self.statuses.report(runner.ctx, "stopped", "")
        for channel_id, target in wanted.items():
            if channel_id in self.runners:
                continue
            bot = Bot(token=target.token, session=self.session)
            self.bots[channel_id] = bot
            runner = self._runner(target.ctx, bot, webhook_secret=target.webhook_secret,
                                  webhook_url=target.webhook_url)
            self.runners[channel_id] = runner
            await self.statuses.report(target.ctx, "starting", "")
            runner.start()
        self.stats.gauge("bots_running", len(self.runners))
        self.sender.channels = set(self.runners)

    async def _reconcile_loop(self) -> None:
        while True:
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconcile failed")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), RECONCILE_SECONDS)

    async def _watch_changes(self) -> None:
        """Bot added / changed / removed: reconcile within a second, not at the next tick."""
        while True:
            try:
                async for channel_id in registry.fleet_changes():
                    if self.mine(channel_id):
                        self._changed.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fleet change subscription failed; resubscribing")
                await asyncio.sleep(1)  # backoff before resubscribing

    async def _on_webhook_update(self, event: events.Event) -> None:
        """An update Telegram POSTed to the web app. Any worker may handle any bot's
        update (answers go through the outbox, which the bot's own worker delivers)."""
        if not isinstance(event, TelegramUpdateReceived):
            return
        runner = self.runners.get(event.channel_id)
        if runner is None:
            target = await registry.fleet_bot(event.channel_id)
            if target is None or target.ctx.mode != "webhook":
                return  # removed or switched back to polling since: drop it
            bot = self.any_bot(event.channel_id, target.token)
            runner = self._runner(target.ctx, bot)
        await runner.handle(Update.model_validate(event.update, context={"bot": runner.bot}))

    async def _upkeep_loop(self) -> None:
        """Catch up messages whose dialog event was lost (the fleet was down), and drop
        delivered outbox rows after a week (worker 0 only)."""
        runs = 0
        while True:
            with contextlib.suppress(Exception):
                if self.runners:
                    await outbox.enqueue_missing(CATCH_UP, set(self.runners), include_ai=True)
                if self.index == 0 and runs % 60 == 0:
                    await outbox.purge_finished(timedelta(days=7))
            runs += 1
            await asyncio.sleep(UPKEEP_SECONDS)  # a period, not synchronisation

    async def _stats_loop(self) -> None:
        ttl = int(STATS_SECONDS * 4)
        while True:
            with contextlib.suppress(Exception):
                self.stats.gauge("queue_depth",
                                 await self.delivery.queue_depth(set(self.runners)))
                await self.stats.flush(ttl)
                await self.statuses.refresh()
                await heartbeats.beat("fleet-worker", ttl=ttl, details={
                    "index": self.index, "count": self.count, "bots": len(self.runners)})
            await asyncio.sleep(STATS_SECONDS)  # a period, not synchronisation

    async def run(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        outbox_consumer = events.StreamConsumer(
            DIALOG_STREAM, "fleet-outbox", f"worker-{self.index}",
            self.delivery.handle_dialog_event)
        webhook_consumer = events.StreamConsumer(
            UPDATES_STREAM, "fleet-webhook", f"worker-{self.index}", self._on_webhook_update)
        consumer_stop = asyncio.Event()
        tasks = [
            asyncio.create_task(webhook_consumer.run_forever(consumer_stop)),
            asyncio.create_task(self._reconcile_loop()),
            asyncio.create_task(self._watch_changes()),
            asyncio.create_task(self._stats_loop()),
            asyncio.create_task(self._upkeep_loop()),
            asyncio.create_task(self.sender.run()),
            asyncio.create_task(outbox_consumer.run_forever(consumer_stop)),
            asyncio.create_task(_warm_intent()),
        ]
        gc.freeze()  # long-lived start-up objects out of the collector's way (DESIGN.md §7)
        await stop.wait()
        consumer_stop.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for runner in list(self.runners.values()):
            await runner.stop()
        await self.session.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s fleet[{args.index}] %(levelname)s %(message)s")
    # aiogram logs every handled update at INFO: most of the log at scale, and no news.
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
    _raise_open_files_limit()
    asyncio.run(Worker(args.index, args.count).run())

