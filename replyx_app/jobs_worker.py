"""The jobs process: scheduled housekeeping and a heartbeat the health check reads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time

from backend_services import heartbeats, maintenance
from backend_services.db import dispose_engine
from backend_services.redis_client import close_redis
from backend_services.settings import get_settings

log = logging.getLogger("replyx.jobs")
PURGE_EVERY = 3600.0


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    interval = get_settings().heartbeat_seconds
    last_purge = 0.0
    try:
        while not stop.is_set():
            try:
                await heartbeats.beat("jobs", ttl=interval * 3)
                if time.monotonic() - last_purge > PURGE_EVERY:
                    removed = await maintenance.purge_expired()
                    last_purge = time.monotonic()
                    log.info("purged expired rows: %s", removed)
            except Exception:
                log.exception("jobs loop iteration failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await close_redis()
        await dispose_engine()


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s jobs %(levelname)s %(message)s")
    asyncio.run(main())
