"""System health for /api/health and the admin panel: each dependency, checked for real.

A load balancer or an operator asks /api/health exactly when something is wrong, so the
answer must come fast even then: every probe has a short deadline and the database and
Redis probes run concurrently, so a dependency that hangs (a dead host, a full SYN queue)
costs one deadline, not the drivers' own connect timeouts one after another.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy import text

from backend_services.core import heartbeats, migrations
from backend_services.core.db import get_engine
from backend_services.core.redis_client import get_redis

EXPECTED_WORKERS = ("fleet", "jobs")
# Each probe's deadline. Both run at once, so the whole check answers in about this long
# even when a dependency never answers; a healthy local PostgreSQL or Redis answers in
# a few milliseconds, so this leaves ample room for a busy one.
PROBE_TIMEOUT_SECONDS = 0.7
T = TypeVar("T")


async def _timed(coro: Awaitable[T]) -> tuple[T | None, float, str]:
    """Run one probe with a deadline; a failure of any kind means that dependency is down."""
    start = time.perf_counter()
    try:
        value = await asyncio.wait_for(coro, timeout=PROBE_TIMEOUT_SECONDS)
        return value, (time.perf_counter() - start) * 1000, ""
    except Exception as exc:
        return None, (time.perf_counter() - start) * 1000, type(exc).__name__ or "error"


@functools.cache
def _head_revision() -> str | None:
    """The migration scripts on disk do not change while the process runs: read them once."""
    return migrations.head_revision()


async def _db_revision() -> str:
    async with get_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))
        return await migrations.current_revision(conn) or "none"


async def _redis_ping() -> bool:
    return bool(await get_redis().ping())  # type: ignore[misc]


async def _workers_seen() -> dict[str, list[dict[str, object]]]:
    return await heartbeats.alive()


async def check(expected_workers: tuple[str, ...] = EXPECTED_WORKERS) -> dict[str, Any]:
    """`status` is ok only when every dependency answers and the schema is at head."""
    (revision, db_ms, db_err), (pong, redis_ms, redis_err) = await asyncio.gather(
        _timed(_db_revision()), _timed(_redis_ping())
    )
    db_ok = revision is not None
    redis_ok = bool(pong)
    head = _head_revision()
    workers: dict[str, Any] = {}
    if redis_ok:
        seen, _ms, _err = await _timed(_workers_seen())
        seen = seen or {}
        for kind in expected_workers:
            workers[kind] = {"alive": len(seen.get(kind, [])), "ok": bool(seen.get(kind))}
    else:
        workers = {k: {"alive": 0, "ok": False} for k in expected_workers}
    checks: dict[str, dict[str, Any]] = {
        "database": {"ok": db_ok, "latency_ms": round(db_ms, 1), "error": db_err},
        "redis": {"ok": redis_ok, "latency_ms": round(redis_ms, 1), "error": redis_err},
        "migrations": {"ok": db_ok and revision == head, "current": revision, "head": head},
        "workers": workers,
    }
    healthy = (
        db_ok and redis_ok and revision == head and all(w["ok"] for w in workers.values())
    )
    failing = [name for name, c in checks.items() if name != "workers" and not c["ok"]]
    failing += [f"workers.{k}" for k, w in workers.items() if not w["ok"]]
    return {"status": "ok" if healthy else "degraded", "failing": failing, "checks": checks}
