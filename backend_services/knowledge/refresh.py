"""Web pages and sitemaps re-fetched on the schedule their workspace set, re-indexed only
when their text changed (ingest.run_ingestion with `refresh`).

The jobs process asks every minute which sources are due, claims them by moving their
`fetched_at` forward (under SKIP LOCKED, so two jobs processes never take one source)
and defers one job each; the job's failure leaves the page as it was, answering from
its last good text, with the error shown beside it until a later fetch works.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from procrastinate import Blueprint, RetryStrategy
from sqlalchemy import text

from backend_services.core import audit, jobs
from backend_services.core.db import session_scope, sql_rows
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.knowledge import ingest, sources
from backend_services.models import KnowledgeDocument, Role

log = logging.getLogger(__name__)
blueprint = Blueprint()
REFRESH_TASK = jobs.TaskRef("knowledge_refresh", "refresh_source", queue="ingest")

# What a tenant can choose, in hours (0: never). Hourly is the tightest: a support site
# changes by the day, and each fetch costs the site a request.
SCHEDULES: dict[int, str] = {0: "Never", 1: "Every hour", 6: "Every 6 hours",
                             24: "Every day", 168: "Every week"}
WEB_KINDS = ("url", "sitemap")
CLAIM_BATCH = 50

_CLAIM = text("""
UPDATE knowledge_documents d SET fetched_at = :now
WHERE d.id IN (
    SELECT id FROM knowledge_documents
    WHERE refresh_hours > 0 AND source_type IN ('url', 'sitemap')
      AND status IN ('ready', 'failed')
      AND COALESCE(fetched_at, updated_at, created_at)
          + make_interval(hours => refresh_hours) <= :now
    ORDER BY COALESCE(fetched_at, updated_at, created_at)
    LIMIT :n FOR UPDATE SKIP LOCKED)
RETURNING d.id
""")


async def set_schedule(principal: Principal, document_id: int, hours: int) -> None:
    """How often a web page or sitemap is fetched again; a sitemap's pages follow it."""
    principal.require(Role.ADMIN)
    if hours not in SCHEDULES:
        raise ValidationFailed("Choose how often: never, hourly, every 6 hours, daily or "
                               "weekly.")
    async with session_scope() as session:
        doc = await sources.document_in_scope(session, principal, document_id)
        if doc.source_type not in WEB_KINDS:
            raise ValidationFailed("Only web pages and sitemaps are fetched again; upload a "
                                   "new version of a file instead.")
        doc.refresh_hours = hours
        session.add(doc)
        if doc.source_type == "sitemap":
            await sql_rows(session, text(
                "UPDATE knowledge_documents SET refresh_hours = :h "
                "WHERE sitemap_id = :s AND workspace_id = :w RETURNING id"),
                {"h": hours, "s": doc.id, "w": principal.workspace_id})
        await audit.record_by(session, principal, "knowledge_refresh_set",
                              f"document:{document_id}", details={"hours": hours})


async def claim_due(now: datetime | None = None) -> list[int]:
    async with session_scope() as session:
        rows = await sql_rows(session, _CLAIM,
                              {"now": now or datetime.now(UTC), "n": CLAIM_BATCH})
    return [int(r.id) for r in rows]


async def defer_due(now: datetime | None = None) -> int:
    """Queue a re-fetch of every source that is due (the jobs process, every minute)."""
    due = await claim_due(now)
    for document_id in due:
        await jobs.defer(REFRESH_TASK, document_id=document_id)
    return len(due)


async def _note_failure(document_id: int, message: str) -> None:
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id, with_for_update=True)
        if doc is None:
            return
        if doc.status == "ready":  # still answering from its last good text
            when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
            doc.error = f"The re-fetch of {when} failed: {message}"[:1000]
        else:
            doc.status, doc.error = "failed", message[:1000]
        session.add(doc)


async def refresh_source(document_id: int) -> str:
    """Fetch one source again; "unchanged", "ready" (re-indexed), or "failed"."""
    try:
        return await ingest.run_ingestion(document_id, refresh=True)
    except ingest.PermanentFailure as exc:
        await _note_failure(document_id, str(exc))
        return "failed"


@blueprint.task(name=REFRESH_TASK.name, queue=REFRESH_TASK.queue,
                retry=RetryStrategy(max_attempts=3, exponential_wait=5))
async def refresh_source_job(document_id: int) -> None:
    log.info("source %s re-fetched: %s", document_id, await refresh_source(document_id))


jobs.register(REFRESH_TASK.namespace, blueprint)
