"""Telegram fleet figures for /metrics: fleet workers write their totals to Redis, the web
app (which serves /metrics) reads every live worker's and renders them, one series per
worker so a restarted worker's reset counter reads as a reset, not as a drop."""

from __future__ import annotations

import json
from typing import Any

from backend_services.core.redis_client import get_redis

PREFIX = "replyx:fleet:stats:"
COUNTERS = {
    "updates": "Telegram updates handled",
    "sent": "messages sent to Telegram",
    "send_errors": "sends that failed (network, 5xx, refused)",
    "rate_limited": "429 Too Many Requests answers from Telegram",
    "bot_errors": "bot polling loops that failed and restarted",
    "update_errors": "updates whose handling raised",
}
GAUGES = {
    "bots_running": "bots this worker runs",
    "queue_depth": "outbox messages waiting for this worker's bots",
}


async def write(worker: str, figures: dict[str, float], ttl: int) -> None:
    await get_redis().set(PREFIX + worker, json.dumps(figures), ex=ttl)


async def read_all() -> dict[str, dict[str, Any]]:
    r = get_redis()
    keys = [k async for k in r.scan_iter(match=PREFIX + "*", count=200)]
    if not keys:
        return {}
    values = await r.mget(keys)
    out: dict[str, dict[str, Any]] = {}
    for key, value in zip(keys, values, strict=True):
        if value:
            name = key.decode() if isinstance(key, bytes) else str(key)
            out[name[len(PREFIX):]] = json.loads(value)
    return out


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ")


def render(rows: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for name, help_text in COUNTERS.items():
        metric = f"replyx_fleet_{name}_total"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        lines += [f'{metric}{{worker="{_label(w)}"}} {float(r.get(name, 0))}'
                  for w, r in sorted(rows.items())]
    for name, help_text in GAUGES.items():
        metric = f"replyx_fleet_{name}"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge"]
        lines += [f'{metric}{{worker="{_label(w)}"}} {float(r.get(name, 0))}'
                  for w, r in sorted(rows.items())]
    return "\n".join(lines) + "\n"
