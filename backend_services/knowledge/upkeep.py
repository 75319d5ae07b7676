"""Scheduled knowledge housekeeping run by the jobs process: documents whose job was lost,
vectors from an embedder that is no longer the default."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text, update
from sqlmodel import col, select

from backend_services.core import jobs
from backend_services.core.db import session_scope
from backend_services.knowledge.embeddings import check_embedder
from backend_services.knowledge.indexing import index_qa
from backend_services.knowledge.sources import INGEST_TASK
from backend_services.models import KnowledgeDocument, QAPair

FORGOTTEN_AFTER = timedelta(minutes=5)


async def requeue_forgotten_documents() -> int:
    """A document whose job was never deferred (the web process died between commit and
    defer) would wait forever; give it a job. The ingestion job is idempotent, so a rare
    duplicate costs only work."""
    cutoff = datetime.now(UTC) - FORGOTTEN_AFTER
    async with session_scope() as session:
        rows = await session.exec(  # type: ignore[call-overload]
            text(
                """
                SELECT d.id FROM knowledge_documents d
                WHERE d.status = 'queued' AND COALESCE(d.updated_at, d.created_at) < :cutoff
                  AND NOT EXISTS (
                    SELECT 1 FROM procrastinate_jobs j
                    WHERE j.task_name = :task AND j.status IN ('todo', 'doing')
                      AND (j.args->>'document_id')::int = d.id)
                """
            ),
            params={"cutoff": cutoff, "task": INGEST_TASK.full_name},
        )
        ids = [int(r[0]) for r in rows]
    for doc_id in ids:
        await jobs.defer(INGEST_TASK, document_id=doc_id)
    return len(ids)


REINDEX_BATCH = 20


async def reindex_stale_embeddings() -> int:
    """Vectors from different models are not comparable: when the default embedder changes,
    requeue the documents (and re-embed the Q&A pairs) whose vectors came from another.

    An embedder whose vectors do not fit the index is refused first (EmbeddingDimensionError,
    raised at the jobs process's first tick), so no document is re-indexed into failure."""
    current = (await check_embedder()).name
    async with session_scope() as session:
        rows = await session.exec(  # type: ignore[call-overload]
            text(
                """
                SELECT DISTINCT c.document_id FROM knowledge_chunks c
                JOIN knowledge_documents d ON d.id = c.document_id
                WHERE c.embedder <> :current AND d.status = 'ready'
                LIMIT :n
                """
            ),
            params={"current": current, "n": REINDEX_BATCH},
        )
        doc_ids = [int(r[0]) for r in rows]
        if doc_ids:
            await session.exec(  # type: ignore[call-overload]
                update(KnowledgeDocument)
                .where(col(KnowledgeDocument.id).in_(doc_ids))
                .values(status="queued", progress=0, error="Re-indexing for a new embedder…")
            )
        stale_qa = (
            await session.exec(
                select(QAPair).where(QAPair.embedder != current).limit(REINDEX_BATCH * 5)
            )
        ).all()
        for qa in stale_qa:
            await index_qa(session, qa)
            session.add(qa)
    for doc_id in doc_ids:
        await jobs.defer(INGEST_TASK, document_id=doc_id)
    return len(doc_ids) + len(stale_qa)
