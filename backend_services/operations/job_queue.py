"""The durable job queue (procrastinate's tables) as an admin sees it: how much waits on
each queue, what failed for good, and a retry that puts a failed job back in line."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from procrastinate.exceptions import ConnectorException
from psycopg.errors import RaiseException
from sqlalchemy import text

from backend_services.core import audit, jobs
from backend_services.core.db import session_scope, sql_rows
from backend_services.core.errors import NotFound
from backend_services.core.principal import Principal

log = logging.getLogger(__name__)

FAILED_SHOWN = 50
RETRY_ALL_AT_MOST = 500
NOT_FAILED = "That job is not waiting for a retry any more (it was retried or removed)."


@dataclass(frozen=True)
class QueueDepth:
    queue: str
    waiting: int  # due now, not yet taken
    scheduled: int  # due later (retries with backoff, delayed work)
    running: int
    failed: int
    oldest_wait_seconds: int  # of the waiting ones; 0 when none wait


@dataclass(frozen=True)
class FailedJob:
    id: int
    queue: str
    task: str
    attempts: int
    args: str
    failed_at: datetime | None


_DEPTH = text("""
SELECT j.queue_name AS queue,
  count(*) FILTER (WHERE j.status = 'todo' AND (j.scheduled_at IS NULL
                   OR j.scheduled_at <= now())) AS waiting,
  count(*) FILTER (WHERE j.status = 'todo' AND j.scheduled_at > now()) AS scheduled,
  count(*) FILTER (WHERE j.status = 'doing') AS running,
  count(*) FILTER (WHERE j.status = 'failed') AS failed,
  COALESCE(EXTRACT(EPOCH FROM now() - min(COALESCE(j.scheduled_at, d.at))
           FILTER (WHERE j.status = 'todo' AND (j.scheduled_at IS NULL
                   OR j.scheduled_at <= now()))), 0)::bigint AS oldest
FROM procrastinate_jobs j
LEFT JOIN LATERAL (SELECT min(e.at) AS at FROM procrastinate_events e
                   WHERE e.job_id = j.id AND e.type = 'deferred') d ON j.status = 'todo'
WHERE j.status IN ('todo', 'doing', 'failed')
GROUP BY j.queue_name ORDER BY j.queue_name
""")

_FAILED = text("""
SELECT j.id, j.queue_name AS queue, j.task_name AS task, j.attempts, j.args::text AS args,
       (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS failed_at
FROM procrastinate_jobs j WHERE j.status = 'failed' ORDER BY j.id DESC LIMIT :n
""")


async def depth() -> list[QueueDepth]:
    async with session_scope() as session:
        rows = await sql_rows(session, _DEPTH)
    return [QueueDepth(str(r.queue), int(r.waiting), int(r.scheduled), int(r.running),
                       int(r.failed), int(r.oldest)) for r in rows]


def _short_args(raw: str) -> str:
    try:
        args = json.loads(raw)
    except ValueError:
        return raw[:160]
    if not isinstance(args, dict):
        return str(args)[:160]
    return ", ".join(f"{k}={v}" for k, v in sorted(args.items()))[:160]


async def failed(limit: int = FAILED_SHOWN) -> list[FailedJob]:
    async with session_scope() as session:
        rows = await sql_rows(session, _FAILED, {"n": limit})
    return [FailedJob(int(r.id), str(r.queue), str(r.task), int(r.attempts),
                      _short_args(str(r.args)), r.failed_at) for r in rows]


async def _retry_one(job_id: int) -> str:
    async with session_scope() as session:
        rows = await sql_rows(session, text(
            "SELECT task_name FROM procrastinate_jobs WHERE id = :id AND status = 'failed'"),
            {"id": job_id})
    if not rows:
        raise NotFound(NOT_FAILED)
    app = await jobs.ensure_open()
    try:
        await app.job_manager.retry_job_by_id_async(job_id, retry_at=datetime.now(UTC))
    except ConnectorException as exc:
        if isinstance(exc.__cause__, RaiseException):  # retried by someone else meanwhile
            raise NotFound(NOT_FAILED) from exc
        raise
    return str(rows[0].task_name)


async def retry(principal: Principal, job_id: int) -> None:
    """Put one failed job back on its queue, due now; audited."""
    principal.require_platform_admin()
    task = await _retry_one(int(job_id))
    async with session_scope() as session:
        await audit.record(session, "job_retried", actor_user_id=principal.user_id,
                           target=f"job:{int(job_id)}:{task}", ip=principal.ip)


async def retry_all(principal: Principal) -> int:
    """Retry every failed job (at most RETRY_ALL_AT_MOST at once): after an outage fixed."""
    principal.require_platform_admin()
    ids = [j.id for j in await failed(RETRY_ALL_AT_MOST)]
    done = 0
    for job_id in ids:
        try:
            await _retry_one(job_id)
            done += 1
        except NotFound:
            continue
    if done:
        async with session_scope() as session:
            await audit.record(session, "jobs_retried", actor_user_id=principal.user_id,
                               target=f"jobs:{done}", ip=principal.ip,
                               details={"jobs": done})
    return done
