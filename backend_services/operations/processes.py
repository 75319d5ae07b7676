"""Every ReplyX process on every host, from the heartbeats they keep in Valkey: web
workers, jobs processes, fleet supervisors and their workers (with the fleet's figures)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from backend_services.channels.telegram import stats as fleet_stats
from backend_services.core import heartbeats

KINDS = {"web": "Web worker", "jobs": "Jobs", "fleet": "Fleet supervisor",
         "fleet-worker": "Fleet worker"}
ORDER = list(KINDS)


@dataclass(frozen=True)
class ProcessRow:
    kind: str
    kind_label: str
    host: str
    pid: str
    seen_seconds_ago: int
    details: str  # what this kind of process reports, in words


def _details(kind: str, beat: dict[str, object], figures: dict[str, float]) -> str:
    if kind == "web":
        return f"{beat.get('sockets', 0)} open connections"
    if kind == "fleet":
        return (f"{beat.get('workers_alive', 0)} of {beat.get('workers', 0)} workers alive, "
                f"{beat.get('restarts', 0)} restarts")
    if kind == "fleet-worker":
        return (f"worker {beat.get('index', '?')}: {beat.get('bots', 0)} bots, "
                f"{int(figures.get('updates', 0))} updates, "
                f"{int(figures.get('send_errors', 0)) + int(figures.get('update_errors', 0))}"
                f" errors, {int(figures.get('queue_depth', 0))} waiting to send")
    return ""


async def alive(now: float | None = None) -> list[ProcessRow]:
    at = time.time() if now is None else now
    beats = await heartbeats.alive()
    figures = await fleet_stats.read_all()
    rows: list[ProcessRow] = []
    for kind, seen in beats.items():
        for beat in seen:
            ident = str(beat.get("id", ""))
            host, _, pid = ident.rpartition(":")
            rows.append(ProcessRow(
                kind=kind, kind_label=KINDS.get(kind, kind), host=host, pid=pid,
                seen_seconds_ago=max(0, int(at - float(str(beat.get("at", at))))),
                details=_details(kind, beat, figures.get(ident, {}))))
    rows.sort(key=lambda r: (ORDER.index(r.kind) if r.kind in ORDER else len(ORDER),
                             r.host, r.pid))
    return rows
