"""Which tabs of a user linked live states (state/live_access.py explains the links).

When that user's access changes, one web worker re-checks exactly these tabs. A set in
Redis per user; it imports no state so that both the session state (which forgets a tab
when its session ends) and the live-link code can use it.
"""

from __future__ import annotations

from backend_services.core.redis_client import get_redis

# Longer than any session lives; a stale entry only costs one re-check.
TAB_REGISTRY_TTL_SECONDS = 8 * 24 * 3600


def _tabs_key(user_id: int) -> str:
    return f"replyx:live-tabs:{user_id}"


async def remember_tab(user_id: int, client_token: str) -> None:
    redis = get_redis()
    key = _tabs_key(user_id)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.sadd(key, client_token)
        pipe.expire(key, TAB_REGISTRY_TTL_SECONDS)
        await pipe.execute()


async def tabs_of(user_id: int) -> list[str]:
    """Client tokens of the tabs in which this user linked live states."""
    members = await get_redis().smembers(_tabs_key(user_id))  # type: ignore[misc]
    return sorted(str(m) for m in members)


async def forget_tab(user_id: int, client_token: str) -> None:
    await get_redis().srem(_tabs_key(user_id), client_token)  # type: ignore[misc]
