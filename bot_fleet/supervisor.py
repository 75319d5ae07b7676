"""Fleet supervisor (`replyx fleet`): starts N worker processes, restarts a crashed one
with backoff without touching the others, and keeps the fleet's heartbeat.

Bots are sharded by `channel_id % N` (each worker computes its own share), so the worker
count is the only thing the supervisor tells them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from dataclasses import dataclass, field

from backend_services.core import heartbeats
from backend_services.core.settings import get_settings

log = logging.getLogger("replyx.fleet")

BACKOFF_FIRST, BACKOFF_MAX = 1.0, 60.0
STABLE_AFTER = 60.0  # a worker that ran this long has its backoff reset


@dataclass
class WorkerSlot:
    index: int
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff: float = BACKOFF_FIRST
    history: list[float] = field(default_factory=list)


async def _spawn(slot: WorkerSlot, count: int) -> None:
    slot.proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot_fleet", "worker", "--index", str(slot.index),
        "--count", str(count))
    slot.started_at = time.monotonic()
    log.info("worker %s/%s started (pid %s)", slot.index, count, slot.proc.pid)


async def _keep_alive(slot: WorkerSlot, count: int, stopping: asyncio.Event) -> None:
    while not stopping.is_set():
        await _spawn(slot, count)
        assert slot.proc is not None
        code = await slot.proc.wait()
        if stopping.is_set():
            return
        ran = time.monotonic() - slot.started_at
        slot.backoff = BACKOFF_FIRST if ran >= STABLE_AFTER else min(slot.backoff * 2,
                                                                       BACKOFF_MAX)
        slot.restarts += 1
        log.warning("worker %s exited with %s after %.0f s; restarting in %.0f s",
                    slot.index, code, ran, slot.backoff)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), slot.backoff)


async def main() -> None:
    s = get_settings()
    count = max(1, s.fleet_workers)
    interval = s.heartbeat_seconds
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    slots = [WorkerSlot(i) for i in range(count)]
    keepers = [asyncio.create_task(_keep_alive(slot, count, stopping)) for slot in slots]

    async def beat() -> None:
        alive = sum(1 for sl in slots if sl.proc is not None and sl.proc.returncode is None)
        await heartbeats.beat("fleet", ttl=interval * 3, details={
            "workers": count, "workers_alive": alive,
            "restarts": sum(sl.restarts for sl in slots)})

    while not stopping.is_set():
        with contextlib.suppress(Exception):
            await beat()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), interval)
    for slot in slots:
        if slot.proc is not None and slot.proc.returncode is None:
            slot.proc.terminate()
    for slot in slots:
        if slot.proc is not None:
            try:
                await asyncio.wait_for(slot.proc.wait(), 20)
            except TimeoutError:
                slot.proc.kill()
    for k in keepers:
        k.cancel()
    await asyncio.gather(*keepers, return_exceptions=True)


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s fleet %(levelname)s %(message)s")
    asyncio.run(main())
