"""The lifespan task that keeps shared live states in step with the database.

Every web worker runs one member of the `web-live` consumer group on the `dialogs`
stream, so each dialog change (from any process: a web worker, the bot fleet, the jobs
worker's timeouts) is applied once, by one worker; Reflex then fans the delta out to every
linked client on every worker. The handler reloads from PostgreSQL (state/live.py), so a
redelivered or reordered event is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from backend_services import events
from backend_services.conversations.events import DIALOG_STREAM, DialogChanged
from state import live

log = logging.getLogger(__name__)

GROUP = "web-live"


async def _apply(event: events.Event) -> None:
    if not isinstance(event, DialogChanged):
        return
    if event.kind in ("typing", "read"):
        # Typing flags are written straight into the shared state, and a read receipt
        # changes nothing anyone sees: re-sending the dialog and the inbox to every viewer
        # for them was measurable load (bench/widget_load.py).
        return
    workspace_id = await live.refresh_dialog(event.dialog_id)
    await live.refresh_inbox(workspace_id or event.workspace_id)


async def live_updates(app: Any) -> None:
    live.set_app(app)
    consumer = events.StreamConsumer(
        DIALOG_STREAM, GROUP, f"{socket.gethostname()}-{os.getpid()}", _apply,
        claim_idle_ms=15_000,
    )
    stop = asyncio.Event()
    try:
        await consumer.run_forever(stop)
    except asyncio.CancelledError:
        stop.set()
        raise
