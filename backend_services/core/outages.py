"""Is this failure our infrastructure (PostgreSQL, Valkey, the network) rather than the input?

Work that arrives from outside and can be asked for again (a Telegram update not yet
confirmed, a webhook POST Telegram will retry) must not be given up on during an outage:
the caller keeps it unconfirmed and waits. Only a failure that retrying cannot fix (a
malformed update, a bug on one input) may be confirmed and logged. When the exception
alone does not say, `dependencies_down()` asks the dependencies themselves, so an
unusual wrapping of a connection error never turns an outage into lost messages.
"""

from __future__ import annotations

import asyncio

import asyncpg
import redis.exceptions
import sqlalchemy.exc
from sqlalchemy import text

from backend_services.core.db import get_engine
from backend_services.core.redis_client import get_redis

PROBE_SECONDS = 3.0

_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (ConnectionError is one)
    TimeoutError,  # asyncio's too, since 3.11
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.TimeoutError,  # pool exhausted: the database is too slow right now
    sqlalchemy.exc.DisconnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, cannot connect now
)


def is_transient(exc: BaseException) -> bool:
    """True when `exc` or anything it was raised from is an outage-type error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _TRANSIENT):
            return True
        if isinstance(current, sqlalchemy.exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


async def _database_answers() -> None:
    async with get_engine().connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _redis_answers() -> None:
    await get_redis().ping()  # type: ignore[misc]


async def dependencies_down() -> bool:
    """True unless both PostgreSQL and Valkey answer within `PROBE_SECONDS`."""
    for probe in (_database_answers, _redis_answers):
        try:
            await asyncio.wait_for(probe(), PROBE_SECONDS)
        except Exception:
            return True
    return False


async def is_outage(exc: BaseException) -> bool:
    """`exc` is an outage by its type, or the dependencies do not answer right now."""
    return is_transient(exc) or await dependencies_down()
