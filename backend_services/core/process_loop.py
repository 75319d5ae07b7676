"""The shape every background process shares: tick every N seconds until SIGTERM/SIGINT,
survive a failed tick, and release Redis and database pools on the way out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

from backend_services.core.db import dispose_engine
from backend_services.core.redis_client import close_redis


async def run_until_stopped(
    tick: Callable[[], Awaitable[None]],
    interval: float,
    log: logging.Logger,
    before_exit: Callable[[], Awaitable[None]] | None = None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not stop.is_set():
            try:
                await tick()
            except Exception:
                log.exception("iteration failed; retrying in %.0f s", interval)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        if before_exit is not None:
            await before_exit()
        await close_redis()
        await dispose_engine()
