"""System health for /api/health and the admin panel: each dependency, checked for real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from sqlalchemy import text

from backend_services import heartbeats, migrations
from backend_services.db import get_engine
from backend_services.redis_client import get_redis

EXPECTED_WORKERS = ("fleet", "jobs")
T = TypeVar("T")


async def _timed(coro: Awaitable[T]) -> tuple[T | None, float, str]:
    """Run one probe with a deadline; a failure of any kind means that dependency is down."""
    start = time.perf_counter()
    try:
        value = await asyncio.wait_for(coro, timeout=3)
        return value, (time.perf_counter() - start) * 1000, ""
    except Exception as exc:
        return None, (time.perf_counter() - start) * 1000, type(exc).__name__ or "error"


async def _db_revision() -> str:
    async with get_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))
        return await migrations.current_revision(conn) or "none"


async def _redis_ping() -> bool:
    return bool(await get_redis().ping())  # type: ignore[misc]


async def check(expected_workers: tuple[str, ...] = EXPECTED_WORKERS) -> dict[str, Any]:
    """`status` is ok only when every dependency answers and the schema is at head."""
    revision, db_ms, db_err = await _timed(_db_revision())
    db_ok = revision is not None
    pong, redis_ms, redis_err = await _timed(_redis_ping())
    redis_ok = bool(pong)
    head = migrations.head_revision()
    workers: dict[str, Any] = {}
    if redis_ok:
        try:
            seen = await heartbeats.alive()
        except Exception:
            seen = {}
        for kind in expected_workers:
            workers[kind] = {"alive": len(seen.get(kind, [])), "ok": bool(seen.get(kind))}
    else:
        workers = {k: {"alive": 0, "ok": False} for k in expected_workers}
    checks = {
        "database": {"ok": db_ok, "latency_ms": round(db_ms, 1), "error": db_err},
        "redis": {"ok": redis_ok, "latency_ms": round(redis_ms, 1), "error": redis_err},
        "migrations": {"ok": db_ok and revision == head, "current": revision, "head": head},
        "workers": workers,
    }
    healthy = (
        db_ok and redis_ok and revision == head and all(w["ok"] for w in workers.values())
    )
    return {"status": "ok" if healthy else "degraded", "checks": checks}
