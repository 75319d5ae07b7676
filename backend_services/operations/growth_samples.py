"""Hourly size samples (the jobs process takes them) and the growth read from them.

PostgreSQL and Valkey only say how big they are now; "how fast is it growing, and which
table" needs history, kept here for 90 days. Several jobs processes may run: a
transaction-scoped advisory lock and the time of the last sample make one of them take
each hour's sample.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlmodel import col, delete

from backend_services.core.db import session_scope, sql_rows
from backend_services.models import SystemSample
from backend_services.operations import database_size, valkey_usage

log = logging.getLogger(__name__)

SAMPLE_EVERY = timedelta(minutes=55)
KEEP_FOR = timedelta(days=90)
_LOCK = 0x5E5A_0001  # pg_advisory_xact_lock key of the sampler

DATABASE = "database_bytes"
TABLE = "table_bytes"
VALKEY_MEMORY = "valkey_bytes"
VALKEY_KEYS = "valkey_keys"


@dataclass(frozen=True)
class DayValue:
    day: date
    value: float


async def take(now: datetime | None = None) -> bool:
    """Take this hour's sample unless another process just did; False when skipped."""
    at = now or datetime.now(UTC)
    try:
        valkey: valkey_usage.ValkeyUsage | None = await valkey_usage.usage()
    except Exception:  # the database sample is still worth taking
        log.warning("could not read Valkey's memory for the size sample", exc_info=True)
        valkey = None
    async with session_scope() as session:
        await sql_rows(session, text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        last = await sql_rows(session, text(
            "SELECT max(taken_at) AS at FROM system_samples WHERE metric = :m"),
            {"m": DATABASE})
        if last[0].at is not None and at - last[0].at < SAMPLE_EVERY:
            return False
        rows = [SystemSample(taken_at=at, metric=DATABASE,
                             value=await database_size.database_bytes(session))]
        rows += [SystemSample(taken_at=at, metric=TABLE, label=t.name[:120], value=t.bytes)
                 for t in await database_size.table_sizes(session)]
        if valkey is not None:
            rows += [SystemSample(taken_at=at, metric=VALKEY_MEMORY, value=valkey.used_bytes),
                     SystemSample(taken_at=at, metric=VALKEY_KEYS, value=valkey.keys)]
        session.add_all(rows)
        await session.exec(delete(SystemSample).where(
            col(SystemSample.taken_at) < at - KEEP_FOR))
    return True


async def daily(metric: str, days: int = 30, now: datetime | None = None) -> list[DayValue]:
    """The last sample of each day over the last `days` days, oldest first."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    async with session_scope() as session:
        rows = await sql_rows(session, text("""
            SELECT DISTINCT ON (date_trunc('day', taken_at AT TIME ZONE 'UTC'))
                   (taken_at AT TIME ZONE 'UTC')::date AS day, value
            FROM system_samples WHERE metric = :m AND label = '' AND taken_at >= :since
            ORDER BY date_trunc('day', taken_at AT TIME ZONE 'UTC'), taken_at DESC"""),
            {"m": metric, "since": since})
    return [DayValue(r.day, float(r.value)) for r in rows]


async def table_bytes_since(days: int = 7, now: datetime | None = None) -> dict[str, float]:
    """Each table's size at the first sample of the window: growth is now minus this."""
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    async with session_scope() as session:
        rows = await sql_rows(session, text("""
            SELECT DISTINCT ON (label) label, value FROM system_samples
            WHERE metric = :m AND taken_at >= :since ORDER BY label, taken_at"""),
            {"m": TABLE, "since": since})
    return {str(r.label): float(r.value) for r in rows}
