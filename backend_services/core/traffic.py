"""Requests and failures per minute, summed over every web worker on every host, for the
admin System page's error-rate chart.

Prometheus counters answer a scraper, but the panel must draw the last hour with no
Prometheus deployed and whichever worker serves the page. So each web worker counts in
memory (a dict increment per request, no I/O on the request path) and adds its counts to
one Redis hash per minute every few seconds; the hashes expire after a day.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from backend_services.core.redis_client import get_redis

PREFIX = "replyx:traffic:"
KEEP_SECONDS = 26 * 3600
FIELDS = ("requests", "client_errors", "server_errors", "handler_errors")

_pending: Counter[tuple[int, str]] = Counter()
_open_sockets = 0


@dataclass(frozen=True)
class MinuteCounts:
    minute: int  # Unix time of the minute's start
    requests: int
    client_errors: int
    server_errors: int
    handler_errors: int

    @property
    def error_rate(self) -> float:
        """Server-side failures (5xx and event handlers that raised) per request served."""
        failures = self.server_errors + self.handler_errors
        return failures / self.requests if self.requests else 0.0


def _minute(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // 60) * 60


def count_request(status: int) -> None:
    minute = _minute()
    _pending[(minute, "requests")] += 1
    if status >= 500:
        _pending[(minute, "server_errors")] += 1
    elif status >= 400:
        _pending[(minute, "client_errors")] += 1


def count_handler_error() -> None:
    """An event handler raised unexpectedly: the user saw "Something went wrong"."""
    _pending[(_minute(), "handler_errors")] += 1


def socket_opened() -> None:
    global _open_sockets
    _open_sockets += 1


def socket_closed() -> None:
    global _open_sockets
    _open_sockets = max(0, _open_sockets - 1)


def open_sockets() -> int:
    """This process's open websockets (its heartbeat reports them per worker)."""
    return _open_sockets


async def flush() -> int:
    """Add this process's counts to the shared per-minute hashes; on a Redis failure the
    counts are kept for the next flush rather than lost."""
    if not _pending:
        return 0
    batch = dict(_pending)
    _pending.clear()
    try:
        async with get_redis().pipeline(transaction=False) as pipe:
            for (minute, field), n in batch.items():
                pipe.hincrby(f"{PREFIX}{minute}", field, n)
                pipe.expire(f"{PREFIX}{minute}", KEEP_SECONDS)
            await pipe.execute()
    except Exception:
        _pending.update(batch)
        raise
    return sum(batch.values())


async def per_minute(minutes: int = 60, now: float | None = None) -> list[MinuteCounts]:
    """The last `minutes` minutes, oldest first, with zeros where nothing was counted."""
    last = _minute(now)
    starts = [last - 60 * i for i in range(minutes - 1, -1, -1)]
    async with get_redis().pipeline(transaction=False) as pipe:
        for start in starts:
            pipe.hmget(f"{PREFIX}{start}", list(FIELDS))
        rows = await pipe.execute()
    return [MinuteCounts(start, *(int(v or 0) for v in row))
            for start, row in zip(starts, rows, strict=True)]
