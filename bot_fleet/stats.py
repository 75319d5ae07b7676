"""Fleet counters, kept in memory per worker and flushed to Redis, where the web app's
/metrics reads every worker's figures (backend_services/channels/telegram/stats.py)."""

from __future__ import annotations

import os
import socket
from collections import Counter

from backend_services.channels.telegram import stats as fleet_stats

_counts: Counter[str] = Counter()
_gauges: dict[str, float] = {}


def count(name: str, n: int = 1) -> None:
    _counts[name] += n


def gauge(name: str, value: float) -> None:
    _gauges[name] = value


def ident() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def snapshot() -> dict[str, float]:
    return {**{k: float(_counts.get(k, 0)) for k in fleet_stats.COUNTERS}, **_gauges}


async def flush(ttl: int) -> None:
    """Totals since the worker started, with a TTL so a dead worker's figures vanish."""
    await fleet_stats.write(ident(), snapshot(), ttl)
