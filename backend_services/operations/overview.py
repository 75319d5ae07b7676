"""Everything the System page shows, read at once. Each part is read on its own: the page
is opened when something is wrong, so a Valkey that does not answer leaves the database
figures standing and is named in `problems` instead of failing the whole page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from backend_services.core import traffic
from backend_services.core.principal import Principal
from backend_services.operations import (
    database_size,
    growth_samples,
    job_queue,
    processes,
    valkey_usage,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

TRAFFIC_MINUTES = 60
HISTORY_DAYS = 30
GROWTH_DAYS = 7


@dataclass(frozen=True)
class TableRow:
    name: str
    bytes: int
    rows: int
    growth_bytes: int | None  # over GROWTH_DAYS; None before the first sample


@dataclass
class SystemOverview:
    database_bytes: int | None = None
    tables: list[TableRow] = field(default_factory=list)
    database_history: list[growth_samples.DayValue] = field(default_factory=list)
    valkey: valkey_usage.ValkeyUsage | None = None
    valkey_history: list[growth_samples.DayValue] = field(default_factory=list)
    queues: list[job_queue.QueueDepth] = field(default_factory=list)
    failed_jobs: list[job_queue.FailedJob] = field(default_factory=list)
    processes: list[processes.ProcessRow] = field(default_factory=list)
    traffic: list[traffic.MinuteCounts] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def requests_last_hour(self) -> int:
        return sum(m.requests for m in self.traffic)

    @property
    def failures_last_hour(self) -> int:
        return sum(m.server_errors + m.handler_errors for m in self.traffic)


async def _part(what: str, coro: Awaitable[T], problems: list[str]) -> T | None:
    try:
        return await coro
    except Exception as exc:
        log.warning("system page: %s unavailable", what, exc_info=True)
        problems.append(f"{what}: {type(exc).__name__}")
        return None


def _tables(sizes: list[database_size.TableSize],
            before: dict[str, float]) -> list[TableRow]:
    return [TableRow(t.name, t.bytes, t.rows,
                     int(t.bytes - before[t.name]) if t.name in before else None)
            for t in sizes]


async def system_overview(principal: Principal) -> SystemOverview:
    principal.require_platform_admin()
    problems: list[str] = []
    db_bytes, sizes, before, db_hist, queues = await asyncio.gather(
        _part("Database size", database_size.database_bytes(), problems),
        _part("Table sizes", database_size.table_sizes(), problems),
        _part("Table growth", growth_samples.table_bytes_since(GROWTH_DAYS), problems),
        _part("Database history", growth_samples.daily(growth_samples.DATABASE,
                                                       HISTORY_DAYS), problems),
        _part("Job queue", job_queue.depth(), problems),
    )
    valkey, valkey_hist, failed, procs, minutes = await asyncio.gather(
        _part("Valkey", valkey_usage.usage(), problems),
        _part("Valkey history", growth_samples.daily(growth_samples.VALKEY_MEMORY,
                                                     HISTORY_DAYS), problems),
        _part("Failed jobs", job_queue.failed(), problems),
        _part("Processes", processes.alive(), problems),
        _part("Traffic", traffic.per_minute(TRAFFIC_MINUTES), problems),
    )
    return SystemOverview(
        database_bytes=db_bytes, tables=_tables(sizes or [], before or {}),
        database_history=db_hist or [], valkey=valkey, valkey_history=valkey_hist or [],
        queues=queues or [], failed_jobs=failed or [], processes=procs or [],
        traffic=minutes or [], problems=problems)
