"""Jobs in the states the admin's System page deals with."""

from __future__ import annotations

from sqlalchemy import text

from backend_services.core import jobs
from backend_services.core.db import session_scope
from backend_services.knowledge.sources import INGEST_TASK


async def failed_job(document_id: int) -> int:
    """An ingestion job in the state procrastinate leaves one after its last attempt."""
    job_id = await jobs.defer(INGEST_TASK, document_id=document_id)
    async with session_scope() as session:
        await session.exec(text(  # type: ignore[call-overload]
            "UPDATE procrastinate_jobs SET status = 'failed', attempts = 3 WHERE id = :id"),
            params={"id": job_id})
    return job_id


async def job_status(job_id: int) -> str:
    async with session_scope() as session:
        return str((await session.exec(text(  # type: ignore[call-overload]
            "SELECT status FROM procrastinate_jobs WHERE id = :id"),
            params={"id": job_id})).one()[0])
