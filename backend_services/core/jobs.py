"""Durable background jobs on PostgreSQL with procrastinate.

Why procrastinate (see docs/decisions.md): jobs live in the same database as the data they
change, so a job is deferred in the same place the document row is written, survives any
process restart, and needs no second durable store. Redis stays a cache.

Tasks are declared on blueprints in their domain modules; the App is built lazily because
the database URL is only known once settings are resolved (the launcher or the tests set
it after import).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from procrastinate import App, Blueprint, PsycopgConnector

from backend_services.core.settings import get_settings

log = logging.getLogger(__name__)

_app: App | None = None
_opened = False
_blueprints: list[tuple[str, Blueprint]] = []


@dataclass(frozen=True)
class TaskRef:
    """Where a task lives (namespace, name, queue), so a module can defer it without
    importing the module that runs it and still put the job on the task's own queue."""

    namespace: str
    name: str
    queue: str

    @property
    def full_name(self) -> str:
        return f"{self.namespace}:{self.name}"


def register(namespace: str, blueprint: Blueprint) -> None:
    """Domain task modules hand their blueprints here when imported; the jobs process
    imports them (replyx_app/jobs_worker.py). This module imports no domain."""
    if any(ns == namespace for ns, _ in _blueprints):
        return
    _blueprints.append((namespace, blueprint))
    if _app is not None:
        _app.add_tasks_from(blueprint, namespace=namespace)


def _conninfo() -> str:
    url = get_settings().require_database_url()
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def get_app() -> App:
    global _app
    if _app is None:
        settings = get_settings()
        _app = App(
            connector=PsycopgConnector(conninfo=_conninfo()),
            worker_defaults={
                "update_heartbeat_interval": settings.jobs_heartbeat_seconds,
                "stalled_worker_timeout": settings.jobs_stalled_seconds,
            },
        )
        for namespace, bp in _blueprints:
            _app.add_tasks_from(bp, namespace=namespace)
    return _app


async def ensure_open() -> App:
    """Open the connection pool once per process (web processes defer, workers run)."""
    global _opened
    app = get_app()
    if not _opened:
        await app.open_async()
        _opened = True
    return app


async def close() -> None:
    """Close the pool; the App (and its task registry) stays for a later reopen."""
    global _opened
    if _app is not None and _opened:
        await _app.close_async()
    _opened = False


async def defer(task: TaskRef, **kwargs: Any) -> int:
    app = await ensure_open()
    job_id: int = await app.configure_task(task.full_name, queue=task.queue).defer_async(
        **kwargs
    )
    return job_id


async def retry_stalled_jobs() -> int:
    """Requeue jobs whose worker stopped sending heartbeats (killed mid-way)."""
    app = await ensure_open()
    count = 0
    for job in await app.job_manager.get_stalled_jobs(
        seconds_since_heartbeat=get_settings().jobs_stalled_seconds
    ):
        await app.job_manager.retry_job_by_id_async(job.id or 0, retry_at=None)  # type: ignore[arg-type]
        log.warning("requeued stalled job %s (%s)", job.id, job.task_name)
        count += 1
    return count


async def run_worker(concurrency: int | None = None, name: str | None = None) -> None:
    """Run until cancelled; a cancel waits for running jobs up to the graceful timeout."""
    app = await ensure_open()
    await app.run_worker_async(
        concurrency=concurrency or get_settings().jobs_concurrency,
        name=name or "replyx-jobs",
        wait=True,
        install_signal_handlers=False,
        shutdown_graceful_timeout=20,
    )
