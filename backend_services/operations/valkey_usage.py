"""Valkey's memory and keys, and which kinds of key take the room."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from backend_services.core.redis_client import get_redis

# Keys looked at to say which families fill Valkey: enough to rank them, bounded so a
# store of millions of keys costs the page a few milliseconds, not a full scan.
SCAN_LIMIT = 5000


@dataclass(frozen=True)
class ValkeyUsage:
    used_bytes: int
    peak_bytes: int
    max_bytes: int  # 0: no limit set
    keys: int
    families: list[tuple[str, int]]  # (family, keys among those sampled), largest first
    sampled: int


def family(key: str) -> str:
    """Our keys are "replyx:<area>:…"; Reflex's states are "<token>_<state path>", its
    locks "<token>_lock", its socket records "token_manager_…"; anything else by its
    first segment."""
    if key.startswith("replyx:"):
        return ":".join(key.split(":")[:2])
    if key.startswith("token_manager_"):
        return "Reflex socket records"
    if key.endswith("_lock"):
        return "Reflex state locks"
    if "_state" in key:
        return "Reflex states"
    head = key.split(":", 1)[0].split("/", 1)[0]
    return head[:40] or "(empty name)"


async def usage() -> ValkeyUsage:
    redis = get_redis()
    info = await redis.info("memory")
    keys = int(await redis.dbsize())
    counts: Counter[str] = Counter()
    sampled = 0
    async for raw in redis.scan_iter(count=500):
        name = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        counts[family(name)] += 1
        sampled += 1
        if sampled >= SCAN_LIMIT:
            break
    return ValkeyUsage(
        used_bytes=int(info.get("used_memory", 0)),
        peak_bytes=int(info.get("used_memory_peak", 0)),
        max_bytes=int(info.get("maxmemory", 0)),
        keys=keys,
        families=counts.most_common(12),
        sampled=sampled,
    )
