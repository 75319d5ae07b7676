"""Each web worker's heartbeat and its share of the per-minute traffic counts (a lifespan
task), so the admin System page lists the web workers on every host beside the jobs and
fleet processes, and draws requests and errors summed over all of them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from backend_services.core import heartbeats, traffic
from backend_services.core.settings import get_settings

log = logging.getLogger(__name__)

FLUSH_SECONDS = 5.0


async def web_heartbeat(app: Any) -> None:
    beat_every = get_settings().heartbeat_seconds
    since_beat = float(beat_every)
    try:
        while True:
            try:
                await traffic.flush()
                if since_beat >= beat_every:
                    await heartbeats.beat("web", ttl=beat_every * 3,
                                          details={"sockets": traffic.open_sockets()})
                    since_beat = 0.0
            except Exception:
                log.warning("could not report this web worker's traffic", exc_info=True)
            await asyncio.sleep(FLUSH_SECONDS)  # poll: a period, not synchronisation
            since_beat += FLUSH_SECONDS
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await traffic.flush()
        raise
