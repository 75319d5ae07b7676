"""The fleet's view of the channels service: which bots to run, and what to report."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from backend_services.channels.telegram import bots as telegram_bots
from backend_services.channels.telegram import status as bot_status
from backend_services.channels.telegram.events import FleetChanged
from backend_services.core import events
from bot_fleet.context import BotContext


@dataclass(frozen=True)
class Target:
    ctx: BotContext
    token: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    webhook_url: str


def _target(b: telegram_bots.FleetBot) -> Target:
    ctx = BotContext(channel_id=b.channel_id, workspace_id=b.workspace_id,
                     assistant_id=b.assistant_id, bot_id=b.bot_id, username=b.username,
                     mode=b.mode, version=b.version)
    return Target(ctx, b.token, b.webhook_secret, b.webhook_url)


async def fleet_bots() -> list[Target]:
    return [_target(b) for b in await telegram_bots.fleet_bots()]


async def fleet_bot(channel_id: int) -> Target | None:
    b = await telegram_bots.fleet_bot(channel_id)
    return _target(b) if b is not None else None


class StatusBoard:
    """What each bot of one worker last reported to the Channels page, re-sent
    periodically so the page never shows a live bot as "fleet offline" (reports go stale
    after telegram_status_stale_seconds)."""

    def __init__(self, worker: str) -> None:
        self._worker = worker
        self._last: dict[int, tuple[BotContext, bot_status.FleetStatus, str]] = {}

    async def report(self, ctx: BotContext, status: bot_status.FleetStatus, error: str) -> None:
        if status == "stopped":
            self._last.pop(ctx.channel_id, None)
        else:
            self._last[ctx.channel_id] = (ctx, status, error)
        await bot_status.report_status(ctx.channel_id, status,
                                       error=error, worker=self._worker, version=ctx.version)

    async def refresh(self) -> None:
        await bot_status.report_statuses(
            bot_status.StatusReport(ctx.channel_id, status,
                                    error=error, worker=self._worker, version=ctx.version)
            for ctx, status, error in list(self._last.values()))


async def record_incoming(channel_id: int) -> None:
    await bot_status.record_activity(channel_id, incoming=1)


async def record_outgoing(channel_id: int) -> None:
    await bot_status.record_activity(channel_id, outgoing=1)


async def fleet_changes() -> AsyncIterator[int]:
    """Channel ids as their configuration changes (pub/sub: lossy, the periodic
    reconcile catches anything missed)."""
    async with events.subscribe(FleetChanged) as subscription:
        async for event in subscription:
            if isinstance(event, FleetChanged):
                yield event.channel_id
