"""One round of notifications, run by the jobs process every few seconds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from backend_services.notifications import delivery, weekly


@dataclass(frozen=True)
class Round:
    expanded: int
    sent: dict[str, int]
    weekly: int


async def run_once(now: datetime | None = None, *, with_weekly: bool = True) -> Round:
    expanded = await delivery.expand()
    asked = await weekly.request_weekly(now) if with_weekly else 0
    if asked:
        expanded += await delivery.expand()
    return Round(expanded, await delivery.send_due(now), asked)
