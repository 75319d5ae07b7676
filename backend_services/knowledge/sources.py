"""Knowledge sources of an assistant: uploaded files and curated Q&A pairs.

An upload is checked (size, quota, content matches extension) before anything is parsed,
stored under a server-generated name, recorded as a document in `queued` state, and handed
to a durable ingestion job in the same request. Chunks only count once their document is
`ready`, so a half-indexed source is never visible to answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.assistants import service as assistants
from backend_services.billing import charges
from backend_services.core import audit, file_store, jobs
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound, ValidationFailed
from backend_services.core.literals import one_of
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.core.views import view_from
from backend_services.knowledge import checks
from backend_services.knowledge.indexing import index_qa
from backend_services.knowledge.safety import (
    SourceKind,
    UploadLimits,
    UploadRejected,
    check_upload,
)
from backend_services.knowledge.web import normalize_url
from backend_services.models import (
    KnowledgeChunk,
    KnowledgeDocument,
    QAPair,
    Role,
    Workspace,
)
from backend_services.models.knowledge import DOCUMENT_STATUSES, DocumentStatus

R = TypeVar("R", KnowledgeDocument, QAPair)

INGEST_TASK = jobs.TaskRef("knowledge", "ingest_document", queue="ingest")


@dataclass(frozen=True)
class DocumentView:
    id: int
    title: str
    source_type: str
    status: DocumentStatus
    progress: int
    error: str
    size_bytes: int
    chunk_count: int
    created: str
    refresh_hours: int = 0  # web pages and sitemaps: re-fetched this often (0: never)
    fetched: str = ""  # when it was last fetched, "" for files


@dataclass(frozen=True)
class ChunkView:
    position: int
    heading_path: str
    content: str
    token_count: int


def _view(d: KnowledgeDocument) -> DocumentView:
    return view_from(DocumentView, d, id=d.id or 0,
                     status=one_of(d.status, DOCUMENT_STATUSES) or "failed",
                     fetched=d.fetched_at.strftime("%Y-%m-%d %H:%M") if d.fetched_at else "",
                     created=d.created_at.strftime("%Y-%m-%d %H:%M"))



async def _live_source(
    session: AsyncSession, assistant_id: int, same: Any
) -> KnowledgeDocument | None:
    """A source of this assistant that `same` matches and that did not fail (a failed one
    may be added again)."""
    return (
        await session.exec(
            select(KnowledgeDocument).where(
                KnowledgeDocument.assistant_id == assistant_id,
                same,
                KnowledgeDocument.status != "failed",
            )
        )
    ).first()


async def document_in_scope(
    session: AsyncSession, principal: Principal, document_id: int
) -> KnowledgeDocument:
    """A source of the principal's workspace; another workspace's looks missing."""
    return await in_workspace(session, KnowledgeDocument, document_id, principal,
                              missing="Source not found.")


QA_NOT_FOUND = "Q&A pair not found."


def _safe_title(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name.strip() or "untitled"
    return name[:300]


def _probe(data: bytes, kind: SourceKind, limits: UploadLimits) -> None:
    """Refuse a broken PDF while the uploader is still looking, not minutes later.

    Opening the cross-reference table and the first page is cheap; the full extraction
    still runs in the job (and reports anything this probe missed).
    """
    if kind != SourceKind.PDF:
        return
    # Imported here: a parser loads when a file of its kind arrives; web workers never need it.
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise UploadRejected("This PDF is protected by a password. Upload an unprotected "
                                 "copy.")
        pages = len(reader.pages)
        if pages and reader.pages[0].extract_text() is None:
            raise ValueError("no text layer")
    except UploadRejected:
        raise
    except Exception as exc:
        raise UploadRejected("This PDF is damaged or cannot be read.") from exc
    if pages > limits.max_pdf_pages:
        raise UploadRejected(f"This PDF has {pages} pages; the limit is {limits.max_pdf_pages}.")


async def add_file(
    principal: Principal, assistant_id: int, filename: str, data: bytes
) -> DocumentView:
    principal.require(Role.ADMIN)
    await charges.check_upload(principal.workspace_id)
    limits = UploadLimits()
    try:
        kind = check_upload(data, filename, limits)
        await asyncio.to_thread(_probe, data, kind, limits)
    except UploadRejected as exc:
        raise ValidationFailed(exc.message) from exc
    digest = hashlib.sha256(data).hexdigest()
    stored_name = f"{uuid.uuid4().hex}.{kind}"
    key = file_store.upload_key(principal.workspace_id, stored_name)
    store = file_store.get_store()
    try:
        view = await _store_upload(principal, assistant_id, filename, data, kind, digest,
                                   stored_name, key, store)
    except BaseException:
        # The row was not committed: an object store keeps no file nobody refers to (in
        # PostgreSQL the file went with the rolled-back transaction already).
        with contextlib.suppress(Exception):
            await store.delete(key)
        raise
    await jobs.defer(INGEST_TASK, document_id=view.id)
    return view


async def _store_upload(principal: Principal, assistant_id: int, filename: str, data: bytes,
                        kind: str, digest: str, stored_name: str, key: str,
                        store: file_store.FileStore) -> DocumentView:
    """The document row and its file, after the quota and duplicate checks."""
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        ws = await session.get(Workspace, principal.workspace_id, with_for_update=True)
        assert ws is not None
        used = (
            await session.exec(
                select(func.coalesce(func.sum(KnowledgeDocument.size_bytes), 0)).where(
                    KnowledgeDocument.workspace_id == principal.workspace_id
                )
            )
        ).one()
        if int(used) + len(data) > ws.storage_quota_bytes:
            mb = ws.storage_quota_bytes // (1024 * 1024)
            raise ValidationFailed(
                f"This upload would exceed your workspace's {mb} MB knowledge storage. "
                "Delete sources you no longer need."
            )
        dup = await _live_source(session, assistant_id, KnowledgeDocument.content_hash == digest)
        if dup is not None:
            raise Conflict(f"This file is already in the knowledge base as “{dup.title}”.")
        await store.put(key, data, session)
        doc = KnowledgeDocument(
            workspace_id=principal.workspace_id,
            assistant_id=assistant_id,
            title=_safe_title(filename),
            source_type=kind,
            stored_name=stored_name,
            content_hash=digest,
            size_bytes=len(data),
            status="queued",
        )
        session.add(doc)
        await session.flush()
        assert doc.id is not None
        await audit.record_by(session, principal, "knowledge_added", f"document:{doc.id}")
        view = _view(doc)
    return view


async def add_url(
    principal: Principal, assistant_id: int, url: str, *, sitemap: bool = False
) -> DocumentView:
    """A web page, or a sitemap whose same-site pages (up to a cap) each become a source."""
    principal.require(Role.ADMIN)
    await charges.check_upload(principal.workspace_id)
    url = normalize_url(url)
    kind = "sitemap" if sitemap else "url"
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        dup = await _live_source(session, assistant_id, KnowledgeDocument.source_uri == url)
        if dup is not None:
            raise Conflict(f"{url} is already in the knowledge base.")
        doc = KnowledgeDocument(
            workspace_id=principal.workspace_id,
            assistant_id=assistant_id,
            title=url[:300],
            source_type=kind,
            source_uri=url,
            status="queued",
        )
        session.add(doc)
        await session.flush()
        assert doc.id is not None
        await audit.record_by(session, principal, "knowledge_added", f"document:{doc.id}",
                              details={"url": url, "kind": kind})
        view = _view(doc)
    await jobs.defer(INGEST_TASK, document_id=view.id)
    return view


async def _rows_of(
    principal: Principal, assistant_id: int, table: type[R], *, newest_first: bool = False
) -> list[R]:
    """An admin's list of this assistant's sources or Q&A pairs (an assistant of another
    workspace is not found)."""
    principal.require(Role.ADMIN)
    order = col(table.id).desc() if newest_first else col(table.id)
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        rows = await session.exec(
            select(table)
            .where(table.workspace_id == principal.workspace_id,
                   table.assistant_id == assistant_id)
            .order_by(order)
        )
        return list(rows)


async def list_documents(principal: Principal, assistant_id: int) -> list[DocumentView]:
    rows = await _rows_of(principal, assistant_id, KnowledgeDocument, newest_first=True)
    return [_view(d) for d in rows]


async def get_document(principal: Principal, document_id: int) -> DocumentView:
    """One source and how far its indexing is (the public API polls this)."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        return _view(await document_in_scope(session, principal, document_id))


async def delete_document(principal: Principal, document_id: int) -> None:
    """Chunks go with the row (cascade) in the same transaction: gone from answers at once."""
    principal.require(Role.ADMIN)
    store = file_store.get_store()
    async with session_scope() as session:
        doc = await document_in_scope(session, principal, document_id)
        key = file_store.upload_key(principal.workspace_id, doc.stored_name)
        await session.delete(doc)
        await audit.record_by(session, principal, "knowledge_deleted", f"document:{document_id}")
        if doc.stored_name and store.transactional:
            await store.delete(key, session)
    if doc.stored_name and not store.transactional:  # an object store: once the row is gone
        await store.delete(key)


async def preview_chunks(
    principal: Principal, document_id: int, limit: int = 100
) -> list[ChunkView]:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        await document_in_scope(session, principal, document_id)
        rows = await session.exec(
            select(KnowledgeChunk)
            .where(
                KnowledgeChunk.workspace_id == principal.workspace_id,
                KnowledgeChunk.document_id == document_id,
            )
            .order_by(col(KnowledgeChunk.position))
            .limit(limit)
        )
        return [
            ChunkView(position=c.position, heading_path=c.heading_path, content=c.content,
                      token_count=c.token_count)
            for c in rows
        ]


async def retry_document(principal: Principal, document_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        doc = await document_in_scope(session, principal, document_id)
        if doc.status != "failed":
            raise ValidationFailed("Only a failed source can be retried.")
        doc.status, doc.progress, doc.error = "queued", 0, ""
        doc.updated_at = datetime.now(UTC)
        session.add(doc)
    await jobs.defer(INGEST_TASK, document_id=document_id)


# ------------------------------------------------------------------------------ Q&A pairs


@dataclass(frozen=True)
class QAView:
    id: int
    question: str
    answer: str


async def list_qa(principal: Principal, assistant_id: int) -> list[QAView]:
    rows = await _rows_of(principal, assistant_id, QAPair)
    return [view_from(QAView, q, id=q.id or 0) for q in rows]


async def save_qa(
    principal: Principal, assistant_id: int, qa_id: int | None, question: str, answer: str,
    *, asked: str = "",
) -> QAView:
    """Embedded at write time (one short text): a saved pair answers the next question.
    A new pair becomes a knowledge check asking `asked` (a visitor's own words, when the
    pair comes from a dialog) or the pair's question."""
    principal.require(Role.ADMIN)
    question, answer = question.strip(), answer.strip()
    if not question or not answer:
        raise ValidationFailed("Write both the question and the answer.")
    if len(question) > 1000 or len(answer) > 8000:
        raise ValidationFailed("Keep the question under 1,000 and the answer under 8,000 "
                               "characters.")
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        if qa_id:
            row = await in_workspace(session, QAPair, qa_id, principal,
                                     missing=QA_NOT_FOUND, lock=True)
            if row.assistant_id != assistant_id:
                raise NotFound(QA_NOT_FOUND)
            row.question, row.answer = question, answer
            row.updated_at = datetime.now(UTC)
        else:
            row = QAPair(workspace_id=principal.workspace_id, assistant_id=assistant_id,
                         question=question, answer=answer)
        await index_qa(session, row)
        session.add(row)
        await session.flush()
        await checks.keep_pair(session, row, asked)
        await audit.record_by(session, principal, "qa_saved", f"qa:{row.id}")
        return QAView(id=row.id or 0, question=row.question, answer=row.answer)


async def delete_qa(principal: Principal, qa_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await in_workspace(session, QAPair, qa_id, principal, missing=QA_NOT_FOUND)
        await session.delete(row)
        await audit.record_by(session, principal, "qa_deleted", f"qa:{qa_id}")
