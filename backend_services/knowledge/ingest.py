"""The ingestion job: extract → chunk → embed → index, with progress the UI shows live.

Idempotent by construction: every attempt recomputes the document from its stored file and
replaces all of its chunks in one transaction together with the switch to `ready`. A worker
killed mid-way leaves the document `embedding` with no visible chunks; the job is requeued
(stalled-worker detection) and the next attempt starts over cleanly.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from procrastinate import Blueprint, RetryStrategy
from sqlalchemy import delete
from sqlmodel import col

from backend_services import jobs
from backend_services.db import session_scope
from backend_services.embeddings import get_default_embedder
from backend_services.knowledge.chunking import approx_token_count, chunk_document
from backend_services.knowledge.extract import ExtractionFailed, extract
from backend_services.knowledge.indexing import tsvector_expr
from backend_services.knowledge.safety import (
    SourceKind,
    UploadLimits,
    UploadRejected,
    check_upload,
)
from backend_services.knowledge.sources import stored_path
from backend_services.models import Assistant, KnowledgeChunk, KnowledgeDocument

log = logging.getLogger(__name__)
blueprint = Blueprint()
EMBED_BATCH = 32
MAX_ATTEMPTS = 5


class PermanentFailure(Exception):
    """The source itself is bad; retrying cannot help. The message is for the user."""


async def _set(document_id: int, status: str, progress: int, error: str = "") -> bool:
    """Returns False when the document was deleted meanwhile (then the job just stops)."""
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id, with_for_update=True)
        if doc is None:
            return False
        doc.status, doc.progress, doc.error = status, progress, error[:1000]
        doc.updated_at = datetime.now(UTC)
        session.add(doc)
        return True


async def run_ingestion(document_id: int) -> str:
    """One attempt. Returns the final status; raises for failures worth retrying."""
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id)
        if doc is None:
            return "deleted"
        assistant = await session.get(Assistant, doc.assistant_id)
        workspace_id, kind, title = doc.workspace_id, doc.source_type, doc.title
        stored = doc.stored_name
        max_tokens = assistant.chunk_max_tokens if assistant else 300
        overlap = assistant.chunk_overlap_tokens if assistant else 40
    if not await _set(document_id, "extracting", 5):
        return "deleted"
    path = stored_path(workspace_id, stored)
    if not path.exists():
        raise PermanentFailure("The uploaded file is missing on the server. Upload it again.")
    data = path.read_bytes()
    limits = UploadLimits()
    try:
        check_upload(data, stored, limits)
        extracted = extract(data, SourceKind(kind), title, limits)
    except (UploadRejected, ExtractionFailed) as exc:
        raise PermanentFailure(str(exc)) from exc
    if not await _set(document_id, "chunking", 25):
        return "deleted"
    embedder = get_default_embedder()
    count = getattr(embedder, "count_tokens", approx_token_count)
    chunks = chunk_document(extracted, count, max_tokens=max_tokens, overlap_tokens=overlap)
    if not chunks:
        raise PermanentFailure("No text could be found in this file.")
    if not await _set(document_id, "embedding", 30):
        return "deleted"
    vectors: list[list[float]] = []
    for start in range(0, len(chunks), EMBED_BATCH):
        batch = chunks[start : start + EMBED_BATCH]
        vectors.extend(
            await embedder.embed([f"{c.heading_path}\n{c.text}".strip() for c in batch])
        )
        done = min(len(chunks), start + EMBED_BATCH)
        if not await _set(document_id, "embedding", 30 + int(65 * done / len(chunks))):
            return "deleted"
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id, with_for_update=True)
        if doc is None:
            return "deleted"
        await session.exec(  # type: ignore[call-overload]
            delete(KnowledgeChunk).where(col(KnowledgeChunk.document_id) == document_id)
        )
        for c, vector in zip(chunks, vectors, strict=True):
            session.add(
                KnowledgeChunk(
                    workspace_id=doc.workspace_id,
                    assistant_id=doc.assistant_id,
                    document_id=document_id,
                    position=c.position,
                    heading_path=c.heading_path[:1000],
                    content=c.text,
                    token_count=c.token_count,
                    embedder=embedder.name,
                    embedding=vector,
                    tsv=tsvector_expr(f"{c.heading_path}\n{c.text}"),
                )
            )
        if extracted.title and doc.title == doc.stored_name:
            doc.title = extracted.title[:300]
        doc.status, doc.progress, doc.error = "ready", 100, ""
        doc.chunk_count = len(chunks)
        doc.token_count = sum(c.token_count for c in chunks)
        doc.updated_at = datetime.now(UTC)
        session.add(doc)
    return "ready"


@blueprint.task(
    name="ingest_document",
    queue="ingest",
    retry=RetryStrategy(max_attempts=MAX_ATTEMPTS, exponential_wait=2),
    pass_context=True,
)
async def ingest_document(context: object, document_id: int) -> None:
    attempts = int(getattr(getattr(context, "job", None), "attempts", 0) or 0)
    try:
        status = await run_ingestion(document_id)
        log.info("document %s: %s", document_id, status)
    except PermanentFailure as exc:
        await _set(document_id, "failed", 0, str(exc))
    except Exception:
        log.exception("document %s: attempt %s failed", document_id, attempts + 1)
        if attempts + 1 >= MAX_ATTEMPTS:
            await _set(document_id, "failed", 0,
                       "Processing failed several times. Try again later or contact support.")
            return
        await _set(document_id, "queued", 0, "Retrying after an error…")
        raise


jobs.register("knowledge", blueprint)
