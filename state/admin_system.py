"""Platform admin → System: what the platform is made of right now and how it grows, its
job queue (retry failed jobs), its processes on every host, its error rate, and every
tenant's Telegram bots (stop, start, restart)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import reflex as rx

from backend_services.channels.telegram import fleet_admin
from backend_services.core.principal import Principal
from backend_services.core.units import format_size
from backend_services.operations import job_queue, overview
from backend_services.operations.overview import SystemOverview
from state.session import SessionState, guarded

MB = 1024 * 1024
TABLES_CHARTED = 8


def size(n: float | None) -> str:
    return "—" if n is None else format_size(int(n))


def _when(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "—"


def _ago(seconds: int) -> str:
    return f"{seconds} s ago" if seconds < 120 else f"{seconds // 60} min ago"


def _cards(v: SystemOverview) -> list[dict[str, str]]:
    waiting = sum(q.waiting for q in v.queues)
    failed = sum(q.failed for q in v.queues)
    kinds = [p.kind for p in v.processes]
    rate = (100 * v.failures_last_hour / v.requests_last_hour) if v.requests_last_hour else 0
    valkey = v.valkey
    limit = f"of {size(valkey.max_bytes)}" if valkey and valkey.max_bytes else "no limit set"
    return [
        {"id": "database", "title": "Database", "value": size(v.database_bytes),
         "note": f"{len(v.tables)} tables"},
        {"id": "valkey", "title": "Valkey memory",
         "value": size(valkey.used_bytes) if valkey else "—", "note": limit},
        {"id": "keys", "title": "Valkey keys",
         "value": f"{valkey.keys:,}" if valkey else "—",
         "note": f"peak memory {size(valkey.peak_bytes)}" if valkey else ""},
        {"id": "jobs", "title": "Jobs waiting", "value": str(waiting),
         "note": f"{failed} failed"},
        {"id": "processes", "title": "Processes", "value": str(len(kinds)),
         "note": f"web {kinds.count('web')}, jobs {kinds.count('jobs')}, "
                 f"fleet workers {kinds.count('fleet-worker')}"},
        {"id": "errors", "title": "Error rate, last hour", "value": f"{rate:.1f}%",
         "note": f"{v.failures_last_hour} of {v.requests_last_hour:,} requests"},
    ]


def _traffic(v: SystemOverview) -> list[dict[str, Any]]:
    return [{"minute": datetime.fromtimestamp(m.minute, UTC).strftime("%H:%M"),
             "ok": m.requests - m.client_errors - m.server_errors,
             "client": m.client_errors, "server": m.server_errors,
             "handler": m.handler_errors} for m in v.traffic]


def _tables(v: SystemOverview) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    rows = [{"name": t.name, "size": size(t.bytes), "rows": f"≈ {t.rows:,}",
             "growth": "—" if t.growth_bytes is None else
             ("+" if t.growth_bytes > 0 else "") + size(t.growth_bytes)}
            for t in v.tables]
    chart = [{"name": t.name,
              "before": round(max(0, t.bytes - max(0, t.growth_bytes or 0)) / MB, 2),
              "growth": round(max(0, t.growth_bytes or 0) / MB, 2)}
             for t in v.tables[:TABLES_CHARTED]]
    return rows, chart


class AdminSystemState(SessionState):
    loaded: rx.Field[bool] = rx.field(False)
    updated: rx.Field[str] = rx.field("")
    problems: rx.Field[list[str]] = rx.field(default_factory=list)
    cards: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    traffic: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    database_days: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    valkey_days: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    tables: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    tables_chart: rx.Field[list[dict[str, Any]]] = rx.field(default_factory=list)
    families: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    sampled_note: rx.Field[str] = rx.field("")
    queues: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    failed_jobs: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    processes: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    bots: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    bot_counts: rx.Field[list[dict[str, str]]] = rx.field(default_factory=list)
    bot_query: rx.Field[str] = rx.field("")
    bot_page: rx.Field[int] = rx.field(0)
    bot_pages: rx.Field[int] = rx.field(1)
    bot_total: rx.Field[int] = rx.field(0)

    async def _reload(self, principal: Principal) -> None:
        v = await overview.system_overview(principal)
        self.problems = v.problems
        self.cards = _cards(v)
        self.traffic = _traffic(v)
        self.database_days = [{"day": d.day.isoformat(), "mb": round(d.value / MB, 1)}
                              for d in v.database_history]
        self.valkey_days = [{"day": d.day.isoformat(), "mb": round(d.value / MB, 1)}
                            for d in v.valkey_history]
        self.tables, self.tables_chart = _tables(v)
        self.families = [{"family": f, "keys": f"{n:,}"}
                         for f, n in (v.valkey.families if v.valkey else [])]
        self.sampled_note = (f"Counted over {v.valkey.sampled:,} of {v.valkey.keys:,} keys."
                             if v.valkey else "")
        self.queues = [{"queue": q.queue, "waiting": str(q.waiting),
                        "scheduled": str(q.scheduled), "running": str(q.running),
                        "failed": str(q.failed),
                        "oldest": _ago(q.oldest_wait_seconds) if q.waiting else "—"}
                       for q in v.queues]
        self.failed_jobs = [{"id": str(j.id), "queue": j.queue, "task": j.task,
                             "attempts": str(j.attempts), "args": j.args,
                             "failed_at": _when(j.failed_at)} for j in v.failed_jobs]
        self.processes = [{"kind": p.kind_label, "host": p.host, "pid": p.pid,
                           "seen": _ago(p.seen_seconds_ago), "details": p.details}
                          for p in v.processes]
        await self._reload_bots(principal)
        self.updated = datetime.now(UTC).strftime("%H:%M:%S UTC")
        self.loaded = True

    async def _reload_bots(self, principal: Principal) -> None:
        page = await fleet_admin.list_bots(principal, self.bot_query, self.bot_page)
        self.bot_total = page.total
        self.bot_pages = max(1, -(-page.total // fleet_admin.PAGE_SIZE))
        self.bot_counts = [{"status": k, "count": str(n)}
                           for k, n in sorted(page.by_status.items())]
        self.bots = [{"id": str(r.id), "workspace": f"{r.workspace} (#{r.workspace_id})",
                      "username": f"@{r.username}", "mode": r.mode, "desired": r.desired,
                      "status": r.status, "error": r.error, "worker": r.worker or "—",
                      "last": _when(r.last_activity), "today": str(r.messages_today)}
                     for r in page.rows]

    @guarded(None, platform_admin=True)
    async def load(self, *, principal: Principal) -> None:
        self.bot_page = 0
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def refresh(self, *, principal: Principal) -> None:
        await self._reload(principal)

    @guarded(None, platform_admin=True)
    async def retry_job(self, job_id: int, *, principal: Principal) -> Any:
        await job_queue.retry(principal, int(job_id))
        await self._reload(principal)
        return rx.toast.success("The job is back on its queue.")

    @guarded(None, platform_admin=True)
    async def retry_all(self, *, principal: Principal) -> Any:
        done = await job_queue.retry_all(principal)
        await self._reload(principal)
        return rx.toast.success(f"{done} failed jobs are back on their queues.")

    @guarded(None, platform_admin=True)
    async def search_bots(self, form: dict[str, Any], *, principal: Principal) -> None:
        self.bot_query = str(form.get("q", ""))[:100]
        self.bot_page = 0
        await self._reload_bots(principal)

    @guarded(None, platform_admin=True)
    async def turn_bot_page(self, step: int, *, principal: Principal) -> None:
        self.bot_page = min(max(0, self.bot_page + (1 if int(step) > 0 else -1)),
                            self.bot_pages - 1)
        await self._reload_bots(principal)

    @guarded(None, platform_admin=True)
    async def set_bot_running(self, channel_id: int, running: bool, *,
                              principal: Principal) -> Any:
        await fleet_admin.set_running(principal, int(channel_id), bool(running))
        await self._reload_bots(principal)
        return rx.toast.success("Bot started." if running else "Bot stopped.")

    @guarded(None, platform_admin=True)
    async def restart_bot(self, channel_id: int, *, principal: Principal) -> Any:
        await fleet_admin.restart(principal, int(channel_id))
        await self._reload_bots(principal)
        return rx.toast.success("Bot restarting.")
