"""Redis (Valkey) client shared by rate limits, events, presence and heartbeats."""

from __future__ import annotations

import redis.asyncio as aioredis

from backend_services.core.settings import get_settings

_client: aioredis.Redis | None = None
REDIS_MAX_CONNECTIONS = 50
REDIS_POOL_WAIT_SECONDS = 20


def get_redis() -> aioredis.Redis:
    global _client
    if _client is None:
        # A blocking pool: when every connection is busy a caller waits (up to
        # `timeout`) instead of failing at once with "Too many connections" — measured in
        # bench/fleet_load.py, where 250 bots of one worker reporting at start-up
        # exhausted a non-blocking pool of 50 and died.
        pool = aioredis.BlockingConnectionPool.from_url(
            get_settings().require_redis_url(),
            decode_responses=True,
            max_connections=REDIS_MAX_CONNECTIONS,
            timeout=REDIS_POOL_WAIT_SECONDS,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
        _client = aioredis.Redis(connection_pool=pool)
    return _client


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        await _client.connection_pool.disconnect()  # a pool passed in is not closed by aclose
    _client = None
