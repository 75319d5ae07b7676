"""The ingestion job: extract → chunk → embed → index, with progress the UI shows live.

Idempotent by construction: every attempt recomputes the document from its stored file and
replaces all of its chunks in one transaction together with the switch to `ready`. A worker
killed mid-way leaves the document `embedding` with no visible chunks; the job is requeued
(stalled-worker detection) and the next attempt starts over cleanly.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from procrastinate import Blueprint, RetryStrategy
from sqlalchemy import delete
from sqlmodel import col, select

from backend_services.billing import charges
from backend_services.core import file_store, jobs
from backend_services.core.db import session_scope
from backend_services.knowledge import review, web
from backend_services.knowledge.chunking import approx_token_count, chunk_document
from backend_services.knowledge.embeddings import get_default_embedder
from backend_services.knowledge.extract import ExtractedDocument, ExtractionFailed, extract
from backend_services.knowledge.flags import flags_for
from backend_services.knowledge.indexing import tsvector_expr
from backend_services.knowledge.safety import (
    SourceKind,
    UploadLimits,
    UploadRejected,
    check_upload,
)
from backend_services.knowledge.sources import INGEST_TASK
from backend_services.models import Assistant, KnowledgeChunk, KnowledgeDocument
from backend_services.models.knowledge import DocumentStatus

log = logging.getLogger(__name__)
blueprint = Blueprint()
EMBED_BATCH = 32
MAX_ATTEMPTS = 5


class PermanentFailure(Exception):
    """The source itself is bad; retrying cannot help. The message is for the user."""


async def _set(document_id: int, status: DocumentStatus, progress: int,
               error: str = "") -> bool:
    """Returns False when the document was deleted meanwhile (then the job just stops)."""
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id, with_for_update=True)
        if doc is None:
            return False
        doc.status, doc.progress, doc.error = status, progress, error[:1000]
        doc.updated_at = datetime.now(UTC)
        session.add(doc)
        return True


def text_digest(doc: ExtractedDocument) -> str:
    """What a page says, not how it is served: a re-fetched page whose markup, scripts or
    tracking tokens changed but whose text did not is not re-indexed (nor charged)."""
    h = hashlib.sha256(doc.title.encode())
    for b in doc.blocks:
        h.update(f"\n{b.kind}:{b.level}:{b.text}".encode())
    return h.hexdigest()


async def _fetched_unchanged(document_id: int) -> None:
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id, with_for_update=True)
        if doc is not None:
            doc.fetched_at, doc.error = datetime.now(UTC), ""
            session.add(doc)


async def run_ingestion(document_id: int, *, refresh: bool = False) -> str:
    """One attempt. Returns the final status; raises for failures worth retrying.

    With `refresh` (a scheduled re-fetch), a `ready` page stays `ready` throughout: it is
    fetched again, and only when its text changed are new chunks made, replacing the old
    ones in one transaction, so answers never lose the page meanwhile. "unchanged" then
    means nothing was re-indexed.
    """
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id)
        if doc is None:
            return "deleted"
        assistant = await session.get(Assistant, doc.assistant_id)
        workspace_id, kind, title = doc.workspace_id, doc.source_type, doc.title
        stored, source_uri = doc.stored_name, doc.source_uri
        quiet, known_text = refresh and doc.status == "ready", doc.text_hash
        max_tokens = assistant.chunk_max_tokens if assistant else 300
        overlap = assistant.chunk_overlap_tokens if assistant else 40

    async def step(status: DocumentStatus, progress: int) -> bool:
        return True if quiet else await _set(document_id, status, progress)

    if not await step("extracting", 5):
        return "deleted"
    if kind == "sitemap":
        return await _expand_sitemap(document_id, source_uri)
    limits = UploadLimits()
    try:
        if kind == "url":
            page = await web.fetch(source_uri)
            if "html" not in page.content_type and not page.body.lstrip()[:1] == b"<":
                raise PermanentFailure("That address is not a web page (HTML).")
            data, kind, name = page.body, SourceKind.HTML, "page.html"
        else:
            upload = await file_store.get_store().get(file_store.upload_key(workspace_id,
                                                                            stored))
            if upload is None:
                raise PermanentFailure("The uploaded file is missing on the server. "
                                       "Upload it again.")
            data, name = upload, stored
        check_upload(data, name, limits)
        extracted = extract(data, SourceKind(kind), title, limits)
    except (UploadRejected, ExtractionFailed, web.FetchFailed) as exc:
        raise PermanentFailure(exc.message) from exc
    digest = text_digest(extracted)
    if quiet and digest == known_text:
        await _fetched_unchanged(document_id)
        return "unchanged"
    if not await step("chunking", 25):
        return "deleted"
    embedder = get_default_embedder()
    count = getattr(embedder, "count_tokens", approx_token_count)
    chunks = chunk_document(extracted, count, max_tokens=max_tokens, overlap_tokens=overlap)
    if not chunks:
        raise PermanentFailure("No text could be found in this file.")
    if not await step("embedding", 30):
        return "deleted"
    vectors: list[list[float]] = []
    for start in range(0, len(chunks), EMBED_BATCH):
        batch = chunks[start : start + EMBED_BATCH]
        vectors.extend(
            await embedder.embed([f"{c.heading_path}\n{c.text}".strip() for c in batch])
        )
        done = min(len(chunks), start + EMBED_BATCH)
        if not await step("embedding", 30 + int(65 * done / len(chunks))):
            return "deleted"
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id, with_for_update=True)
        if doc is None:
            return "deleted"
        await session.exec(  # type: ignore[call-overload]
            delete(KnowledgeChunk).where(col(KnowledgeChunk.document_id) == document_id)
        )
        own = await review.own_domains(session, doc.workspace_id, doc.assistant_id)
        for c, vector in zip(chunks, vectors, strict=True):
            found = flags_for(c.text, own)
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
                    flags=list(found),
                    held=bool(found),
                )
            )
        if extracted.title and doc.source_type == "url":
            doc.title = extracted.title[:300]
        doc.status, doc.progress, doc.error = "ready", 100, ""
        doc.text_hash = digest
        if kind == "url":
            doc.fetched_at = datetime.now(UTC)
        doc.chunk_count = len(chunks)
        doc.token_count = sum(c.token_count for c in chunks)
        # Charged with the chunks it pays for, once per text: a re-run job for the same
        # text finds its key and charges nothing.
        await charges.charge_document(
            session, doc.workspace_id, document_id=document_id, title=doc.title,
            token_count=doc.token_count, content=charges.content_key([c.text for c in chunks]))
        doc.updated_at = datetime.now(UTC)
        session.add(doc)
    return "ready"


async def _expand_sitemap(document_id: int, url: str) -> str:
    """Each same-site page of the sitemap becomes its own source with its own job."""
    try:
        pages = await web.sitemap_pages(url)
    except web.FetchFailed as exc:
        raise PermanentFailure(exc.message) from exc
    if not pages:
        raise PermanentFailure("The sitemap lists no pages on this site.")
    new_ids: list[int] = []
    async with session_scope() as session:
        sitemap = await session.get(KnowledgeDocument, document_id, with_for_update=True)
        if sitemap is None:
            return "deleted"
        known = set(
            (await session.exec(
                select(KnowledgeDocument.source_uri).where(
                    KnowledgeDocument.assistant_id == sitemap.assistant_id)
            )).all()
        )
        for page in pages:
            if page in known:
                continue
            doc = KnowledgeDocument(workspace_id=sitemap.workspace_id,
                                    assistant_id=sitemap.assistant_id, title=page[:300],
                                    source_type="url", source_uri=page, status="queued",
                                    sitemap_id=sitemap.id,
                                    refresh_hours=sitemap.refresh_hours)
            session.add(doc)
            await session.flush()
            assert doc.id is not None
            new_ids.append(doc.id)
        sitemap.status, sitemap.progress, sitemap.error = "ready", 100, ""
        sitemap.fetched_at = datetime.now(UTC)
        sitemap.title = f"Sitemap {urlsplit(url).hostname}: {len(pages)} pages"[:300]
        sitemap.updated_at = datetime.now(UTC)
        session.add(sitemap)
    for doc_id in new_ids:
        await jobs.defer(INGEST_TASK, document_id=doc_id)
    return "ready"


@blueprint.task(
    name=INGEST_TASK.name,
    queue=INGEST_TASK.queue,
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


jobs.register(INGEST_TASK.namespace, blueprint)
