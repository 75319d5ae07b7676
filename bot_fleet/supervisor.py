"""Fleet supervisor. Today it keeps its heartbeat and watches the Telegram channels table;
the worker processes that run the bots arrive with the Telegram channel feature."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from sqlalchemy import func
from sqlmodel import select

from backend_services import heartbeats
from backend_services.db import dispose_engine, session_scope
from backend_services.models import Channel
from backend_services.redis_client import close_redis
from backend_services.settings import get_settings

log = logging.getLogger("replyx.fleet")


async def active_bot_count() -> int:
    async with session_scope() as session:
        count = await session.exec(
            select(func.count()).select_from(Channel).where(
                Channel.kind == "telegram", Channel.is_active
            )
        )
        return int(count.one())


async def main() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    interval = get_settings().heartbeat_seconds
    try:
        while not stop.is_set():
            try:
                bots = await active_bot_count()
                await heartbeats.beat("fleet", ttl=interval * 3, details={"bots": bots})
            except Exception:
                log.exception("fleet supervisor iteration failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await close_redis()
        await dispose_engine()


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fleet %(levelname)s %(message)s")
    asyncio.run(main())
