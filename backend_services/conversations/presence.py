"""Operator presence, kept in Redis only: online / away / offline.

A status lives in a key with a TTL (`presence_ttl_seconds`, ~45 s); the console renews it
with a heartbeat every ~15 s. A tab that closes, crashes or loses its network stops
heartbeating, and the operator goes offline by themselves when the key expires: nothing
has to notice the disconnect. A per-workspace sorted set (score = expiry time) lists who
may be present, so reading a workspace's statuses needs no key scan; the keys, not the
set, are the truth, and expired members are pruned on read.
"""

from __future__ import annotations

import time
from typing import Literal

from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.redis_client import get_redis
from backend_services.core.settings import get_settings
from backend_services.models import Role

Status = Literal["online", "away", "offline"]
STATUSES: tuple[str, ...] = ("online", "away", "offline")
_PREFIX = "replyx:presence:"


def _key(workspace_id: int, user_id: int) -> str:
    return f"{_PREFIX}{workspace_id}:{user_id}"


def _roster(workspace_id: int) -> str:
    return f"{_PREFIX}{workspace_id}:roster"


def _ttl() -> int:
    return max(1, get_settings().presence_ttl_seconds)


async def set_status(principal: Principal, status: str) -> str:
    """Set the operator's status; "offline" forgets it at once."""
    principal.require(Role.OPERATOR)
    if status not in STATUSES:
        raise ValidationFailed("Choose online, away or offline.")
    r = get_redis()
    key, roster = _key(principal.workspace_id, principal.user_id), _roster(principal.workspace_id)
    async with r.pipeline(transaction=True) as pipe:
        if status == "offline":
            pipe.delete(key)
            pipe.zrem(roster, str(principal.user_id))
        else:
            ttl = _ttl()
            pipe.set(key, status, ex=ttl)
            pipe.zadd(roster, {str(principal.user_id): time.time() + ttl})
        await pipe.execute()
    return status


async def heartbeat(principal: Principal) -> str:
    """Keep the current status alive; returns the status now in effect ("offline" when it
    had already expired: the console then sets it again if the operator still wants it)."""
    principal.require(Role.OPERATOR)
    r = get_redis()
    key = _key(principal.workspace_id, principal.user_id)
    ttl = _ttl()
    async with r.pipeline(transaction=True) as pipe:
        pipe.get(key)
        pipe.expire(key, ttl)
        current, _ = await pipe.execute()
    if current is None:
        return "offline"
    await r.zadd(_roster(principal.workspace_id), {str(principal.user_id): time.time() + ttl})
    return str(current)


async def statuses(workspace_id: int) -> dict[int, str]:
    """user id -> "online" | "away" for everyone present; absent means offline."""
    r = get_redis()
    roster = _roster(workspace_id)
    await r.zremrangebyscore(roster, "-inf", time.time())
    members = [int(m) for m in await r.zrange(roster, 0, -1)]
    if not members:
        return {}
    values = await r.mget([_key(workspace_id, uid) for uid in members])
    return {uid: str(v) for uid, v in zip(members, values, strict=True) if v in ("online", "away")}


async def online_operator_count(workspace_id: int) -> int:
    return sum(1 for s in (await statuses(workspace_id)).values() if s == "online")
