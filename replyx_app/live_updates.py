"""The lifespan task that keeps shared live states in step with the database.

Every web worker runs one member of the `web-live` consumer group on the `dialogs`
stream, so each dialog change (from any process: a web worker, the bot fleet, the jobs
worker's timeouts) is applied once, by one worker; Reflex then fans the delta out to every
linked client on every worker. The handler reloads from PostgreSQL (state/live.py), so a
redelivered or reordered event is harmless, and it takes the entries read together as
one batch, so a burst of changes to one dialog or inbox costs one refresh each.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import Any

from backend_services.conversations.events import DIALOG_STREAM, DialogChanged
from backend_services.core import events
from state import live

log = logging.getLogger(__name__)

GROUP = "web-live"


# Dialogs refreshed at once by one consumer: each refresh is a few queries and one state
# write, and different dialogs take different locks.
PARALLEL_REFRESHES = 8


async def _apply(batch: list[events.Event]) -> None:
    """Refresh each changed dialog once and each touched inbox once, however many
    changes the batch holds: under load many arrive per dialog and per workspace, and
    handling them one by one fell tens of seconds behind (bench/widget_load.py)."""
    dialogs: dict[int, bool] = {}  # dialog id -> its notes changed too
    workspaces: set[int] = set()
    for event in batch:
        if not isinstance(event, DialogChanged) or event.kind in ("typing", "read"):
            # Typing flags are written straight into the shared state, and a read receipt
            # changes nothing anyone sees.
            continue
        dialogs[event.dialog_id] = dialogs.get(event.dialog_id, False) or event.kind == "note"
        workspaces.add(event.workspace_id)
    gate = asyncio.Semaphore(PARALLEL_REFRESHES)

    async def one(dialog_id: int, notes: bool) -> None:
        async with gate:
            await live.refresh_dialog(dialog_id, notes=notes)

    await asyncio.gather(*(one(d, n) for d, n in dialogs.items()))
    for workspace_id in workspaces:
        await live.refresh_inbox(workspace_id)


async def live_updates(app: Any) -> None:
    live.set_app(app)
    consumer = events.BatchStreamConsumer(
        DIALOG_STREAM, GROUP, f"{socket.gethostname()}-{os.getpid()}", _apply,
        claim_idle_ms=15_000,
    )
    stop = asyncio.Event()
    try:
        await consumer.run_forever(stop)
    except asyncio.CancelledError:
        stop.set()
        raise
