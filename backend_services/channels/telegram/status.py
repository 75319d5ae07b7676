"""What the fleet says each bot is doing, and how busy it is: Redis only.

The fleet writes, the Channels page and health read. A status is a small hash per bot
(`replyx:bot:<channel id>`: status, error, worker, when, for which channel version, and
the time of the last message), refreshed by the fleet at least every few heartbeats, so a
status that has not been refreshed for `telegram_status_stale_seconds` means nobody is
running that bot any more (the fleet is down) and the page says so instead of showing an
old "running". Messages per bot and UTC day are counted in a per-day hash that expires
after two days.

Nothing here is a source of truth: losing Redis loses recent statuses and today's counts,
never a bot or a message. Status texts pass through `redact`, so an exception message the
fleet reports can never put a token on the page.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from backend_services.channels.telegram.api import redact
from backend_services.core.literals import one_of
from backend_services.core.redis_client import get_redis
from backend_services.core.settings import get_settings

FleetStatus = Literal["starting", "running", "error", "stopped"]
FLEET_STATUSES: tuple[FleetStatus, ...] = get_args(FleetStatus)
_PREFIX = "replyx:bot:"
_KEEP_SECONDS = 7 * 24 * 3600  # a bot nobody reports on for a week is long gone
_DAY_KEEP_SECONDS = 2 * 24 * 3600
MAX_ERROR_LENGTH = 300


def _key(channel_id: int) -> str:
    return f"{_PREFIX}{channel_id}"


def _day(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y%m%d")


def _day_key(channel_id: int, day: str) -> str:
    return f"{_PREFIX}{channel_id}:msgs:{day}"


def stale_after() -> int:
    return max(1, get_settings().telegram_status_stale_seconds)


@dataclass(frozen=True)
class StatusReport:
    """One bot's status as a fleet worker sees it (for `report_statuses`)."""

    channel_id: int
    status: FleetStatus
    error: str = ""
    worker: str = ""
    version: int | None = None


@dataclass(frozen=True)
class BotStatus:
    """The last thing the fleet said about a bot, with today's message counts.

    `status` is None when nothing was ever reported. `stale` is true when the report is
    missing or older than `telegram_status_stale_seconds`.
    """

    channel_id: int
    status: FleetStatus | None
    error: str
    worker: str
    reported_at: datetime | None
    version: int | None
    last_activity: datetime | None
    messages_in_today: int
    messages_out_today: int
    stale: bool

    @property
    def messages_today(self) -> int:
        return self.messages_in_today + self.messages_out_today


def _fields(report: StatusReport, at: float) -> dict[str, str]:
    if report.status not in FLEET_STATUSES:
        raise ValueError(f"unknown bot status {report.status!r}")
    error = redact(" ".join(report.error.split()))
    if len(error) > MAX_ERROR_LENGTH:
        error = error[: MAX_ERROR_LENGTH - 1] + "…"
    return {
        "status": report.status,
        "error": error if report.status == "error" else "",
        "worker": report.worker[:120],
        "at": repr(at),
        "version": "" if report.version is None else str(int(report.version)),
    }


async def report_statuses(reports: Iterable[StatusReport]) -> int:
    """Write many statuses in one round trip (a worker refreshing all its bots)."""
    now = time.time()
    rows = [(r.channel_id, _fields(r, now)) for r in reports]
    if not rows:
        return 0
    async with get_redis().pipeline(transaction=False) as pipe:
        for channel_id, fields in rows:
            pipe.hset(_key(channel_id), mapping=fields)  # type: ignore[arg-type]
            pipe.expire(_key(channel_id), _KEEP_SECONDS)
        await pipe.execute()
    return len(rows)


async def report_status(
    channel_id: int,
    status: FleetStatus,
    error: str = "",
    worker: str = "",
    *,
    version: int | None = None,
) -> None:
    """Say what a bot is doing now. `error` is shown to the tenant, so make it readable
    ("Telegram refused the token (401 Unauthorized)"); `version` is the channel version
    the worker runs, so a report about an older configuration shows as "starting"."""
    await report_statuses(
        [StatusReport(channel_id, status, error=error, worker=worker, version=version)]
    )


async def record_activity(channel_id: int, *, incoming: int = 0, outgoing: int = 0) -> None:
    """Count messages received from and sent to Telegram users, and stamp the time."""
    if incoming < 0 or outgoing < 0:
        raise ValueError("message counts cannot be negative")
    if not incoming and not outgoing:
        return
    now = time.time()
    day_key = _day_key(channel_id, _day(now))
    async with get_redis().pipeline(transaction=False) as pipe:
        pipe.hset(_key(channel_id), "last", repr(now))
        pipe.expire(_key(channel_id), _KEEP_SECONDS)
        if incoming:
            pipe.hincrby(day_key, "in", incoming)
        if outgoing:
            pipe.hincrby(day_key, "out", outgoing)
        pipe.expire(day_key, _DAY_KEEP_SECONDS)
        await pipe.execute()


def _when(raw: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(raw), UTC) if raw else None
    except ValueError:
        return None


async def statuses(
    channel_ids: Sequence[int], *, now: float | None = None
) -> dict[int, BotStatus]:
    """The status of each bot asked for (every id gets an entry), in one round trip."""
    ids = list(dict.fromkeys(int(c) for c in channel_ids))
    if not ids:
        return {}
    at = time.time() if now is None else now
    day = _day(at)
    async with get_redis().pipeline(transaction=False) as pipe:
        for channel_id in ids:
            pipe.hgetall(_key(channel_id))
            pipe.hmget(_day_key(channel_id, day), ["in", "out"])
        results = await pipe.execute()
    limit = stale_after()
    out: dict[int, BotStatus] = {}
    for i, channel_id in enumerate(ids):
        data: dict[str, str] = results[2 * i] or {}
        counts: list[str | None] = results[2 * i + 1] or [None, None]
        reported = _when(data.get("at"))
        version = data.get("version") or ""
        out[channel_id] = BotStatus(
            channel_id=channel_id,
            status=one_of(data.get("status"), FLEET_STATUSES),
            error=data.get("error", ""),
            worker=data.get("worker", ""),
            reported_at=reported,
            version=int(version) if version.isdigit() else None,
            last_activity=_when(data.get("last")),
            messages_in_today=int(counts[0] or 0),
            messages_out_today=int(counts[1] or 0),
            stale=reported is None or at - reported.timestamp() > limit,
        )
    return out


async def forget(channel_id: int) -> None:
    """Drop everything kept about a deleted bot."""
    now = time.time()
    days = {_day(now), _day(now - 86_400)}
    await get_redis().delete(_key(channel_id), *(_day_key(channel_id, d) for d in days))
