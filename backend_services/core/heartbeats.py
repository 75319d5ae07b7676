"""Worker liveness in Redis: each process refreshes a key with a TTL; health reads them."""

from __future__ import annotations

import json
import os
import socket
import time

from backend_services.core.redis_client import get_redis

PREFIX = "replyx:heartbeat:"


async def beat(kind: str, ttl: int, details: dict[str, object] | None = None) -> None:
    ident = f"{socket.gethostname()}:{os.getpid()}"
    payload = json.dumps({"kind": kind, "id": ident, "at": time.time(), **(details or {})})
    await get_redis().set(f"{PREFIX}{kind}:{ident}", payload, ex=ttl)


async def alive() -> dict[str, list[dict[str, object]]]:
    redis = get_redis()
    out: dict[str, list[dict[str, object]]] = {}
    async for key in redis.scan_iter(match=f"{PREFIX}*", count=200):
        raw = await redis.get(key)
        if raw:
            data = json.loads(raw)
            out.setdefault(str(data["kind"]), []).append(data)
    return out
