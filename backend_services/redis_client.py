"""Redis (Valkey) client shared by rate limits, events, presence and heartbeats."""

from __future__ import annotations

import redis.asyncio as aioredis

from backend_services.settings import get_settings

_client: aioredis.Redis | None = None


def get_redis() -> aioredis.Redis:
    global _client
    if _client is None:
        _client = aioredis.from_url(
            get_settings().require_redis_url(),
            decode_responses=True,
            max_connections=50,
            socket_connect_timeout=2,
            socket_timeout=5,
            health_check_interval=30,
        )
    return _client


async def close_redis() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
    _client = None
