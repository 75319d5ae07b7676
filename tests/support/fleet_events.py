"""What the fleet was told: the (channel, action) of every FleetChanged on the stream."""

from __future__ import annotations

from backend_services.channels.telegram.events import FLEET_STREAM
from backend_services.core import events
from backend_services.core.redis_client import get_redis


async def fleet_actions() -> list[tuple[int, str]]:
    out = []
    for _, fields in await get_redis().xrange(f"replyx:stream:{FLEET_STREAM}"):
        event = events.decode(fields["event"])
        out.append((getattr(event, "channel_id", 0), getattr(event, "action", "")))
    return out
