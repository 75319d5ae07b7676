"""Fleet counters, kept in memory per worker and flushed to Redis, where the web app's
/metrics reads every worker's figures (backend_services/channels/telegram/stats.py).

One `FleetStats` per worker process, handed to whatever counts (runners, the sender, the
handlers through the dispatcher): explicit, so nothing counts into a module global that a
second worker object, or a test, would share by accident."""

from __future__ import annotations

import os
import socket
from collections import Counter

from backend_services.channels.telegram import stats as fleet_stats


def ident() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class FleetStats:
    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._gauges: dict[str, float] = {}

    def count(self, name: str, n: int = 1) -> None:
        self._counts[name] += n

    def gauge(self, name: str, value: float) -> None:
        self._gauges[name] = value

    def snapshot(self) -> dict[str, float]:
        return {**{k: float(self._counts.get(k, 0)) for k in fleet_stats.COUNTERS},
                **self._gauges}

    async def flush(self, ttl: int) -> None:
        """Totals since the worker started, with a TTL so a dead worker's figures vanish."""
        await fleet_stats.write(ident(), self.snapshot(), ttl)
