"""Fleet events: a bot was added, changed, removed or must restart.

Published only after the change has committed, to two places: pub/sub (the fleet's
supervisor, if listening, reacts within a second) and the `fleet` Redis Stream, which the
fleet reads with a consumer group so that an event sent while it was restarting is still
seen. The event carries ids and the channel's version only, never a token: a reader
reloads the bot with `fleet_bot(channel_id)`. A fleet that has been down for long can
simply reload everything with `fleet_bots()`; the stream is a prompt, not the truth.
"""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

from backend_services.core import events

log = logging.getLogger(__name__)

# The stream read with XREADGROUP by the fleet supervisor: `replyx:stream:fleet`.
FLEET_STREAM = "fleet"
FLEET_STREAM_KEY = events.stream_key(FLEET_STREAM)
# Bounded: a hand-off to a live supervisor; after a long outage it reloads from PostgreSQL.
FLEET_STREAM_MAXLEN = 10_000

FleetAction = Literal["added", "changed", "removed", "restart"]


class FleetChanged(events.Event):
    """One bot's desired configuration changed; `version` is the channel's version after
    the change (0 when removed), so a worker that already runs that version can skip it.

    action: "added" (new bot, running), "changed" (token, mode, assistant or desired
    state: a worker stops the bot when `fleet_bot()` returns None), "removed" (deleted),
    "restart" (the tenant asked to restart it).
    """

    type: ClassVar[str] = "fleet.changed"
    workspace_id: int
    channel_id: int
    action: str
    version: int = 0


async def publish_fleet_changed(
    workspace_id: int, channel_id: int, action: FleetAction, version: int = 0
) -> FleetChanged:
    """Tell the fleet; call after commit. A Redis failure is logged, not raised: the
    change is committed and the fleet converges when it next reloads `fleet_bots()`."""
    event = FleetChanged(
        workspace_id=workspace_id, channel_id=channel_id, action=action, version=version
    )
    try:
        await events.publish(event)
        await events.enqueue(FLEET_STREAM, event, maxlen=FLEET_STREAM_MAXLEN)
    except Exception:
        log.exception("could not publish fleet change %s for channel %s", action, channel_id)
    return event
