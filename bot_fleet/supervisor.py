"""Fleet supervisor. Today it keeps its heartbeat and watches the Telegram channels table;
the worker processes that run the bots arrive with the Telegram channel feature."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func
from sqlmodel import select

from backend_services import heartbeats
from backend_services.db import session_scope
from backend_services.models import Channel
from backend_services.process_loop import run_until_stopped
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
    interval = get_settings().heartbeat_seconds

    async def tick() -> None:
        await heartbeats.beat("fleet", ttl=interval * 3, details={"bots": await active_bot_count()})

    await run_until_stopped(tick, interval, log)


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fleet %(levelname)s %(message)s")
    asyncio.run(main())
