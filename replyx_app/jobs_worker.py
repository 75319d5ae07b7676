"""The jobs process: scheduled housekeeping and a heartbeat the health check reads."""

from __future__ import annotations

import asyncio
import logging
import time

from backend_services import heartbeats, maintenance
from backend_services.process_loop import run_until_stopped
from backend_services.settings import get_settings

log = logging.getLogger("replyx.jobs")
PURGE_EVERY = 3600.0


async def main() -> None:
    interval = get_settings().heartbeat_seconds
    last_purge = {"at": -PURGE_EVERY}

    async def tick() -> None:
        await heartbeats.beat("jobs", ttl=interval * 3)
        if time.monotonic() - last_purge["at"] >= PURGE_EVERY:
            removed = await maintenance.purge_expired()
            last_purge["at"] = time.monotonic()
            log.info("purged expired rows: %s", removed)

    await run_until_stopped(tick, interval, log)


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s jobs %(levelname)s %(message)s")
    asyncio.run(main())
