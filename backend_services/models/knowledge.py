"""Knowledge sources, their chunks (vector + full text), curated Q&A pairs, and the
knowledge checks that keep them answering."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlmodel import Column, Field

from backend_services.models.base import (
    AssistantRow,
    created_at_field,
    parent_fk,
    ts_field,
)

EMBEDDING_DIM = 384
# A document's way through ingestion (knowledge/ingest.py); "ready" and "failed" are final.
DocumentStatus = Literal["queued", "extracting", "chunking", "embedding", "ready", "failed"]
DOCUMENT_STATUSES: tuple[DocumentStatus, ...] = get_args(DocumentStatus)


def _search_indexes(table: str) -> tuple[sa.Index, sa.Index]:
    """What hybrid search reads: an HNSW index on the embedding (cosine), GIN on the tsv."""
    return (
        sa.Index(
            f"ix_{table}_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 128},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        sa.Index(f"ix_{table}_tsv", "tsv", postgresql_using="gin"),
    )


class KnowledgeDocument(AssistantRow, table=True):
    __tablename__ = "knowledge_documents"
    __table_args__ = (sa.Index("ix_knowledge_documents_refresh_due", "refresh_hours",
                               "fetched_at", postgresql_where=sa.text("refresh_hours > 0")),)
    title: str = Field(max_length=300)
    source_type: str = Field(max_length=16)
    source_uri: str = Field(default="", max_length=2000)
    stored_name: str = Field(default="", max_length=200)
    content_hash: str = Field(default="", max_length=64, index=True)
    size_bytes: int = Field(default=0)
    status: str = Field(default="queued", max_length=16)
    progress: int = Field(default=0)
    error: str = Field(default="", max_length=1000)
    chunk_count: int = Field(default=0)
    token_count: int = Field(default=0)
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()
    # Migration 0024: web pages and sitemaps re-fetched every `refresh_hours` (0: never),
    # re-indexed only when the hash of their extracted text changed; a page found through
    # a sitemap follows the sitemap's schedule.
    refresh_hours: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    fetched_at: datetime | None = ts_field()
    text_hash: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})
    sitemap_id: int | None = Field(default=None, foreign_key="knowledge_documents.id",
                                   ondelete="SET NULL")


class KnowledgeChunk(AssistantRow, table=True):
    __tablename__ = "knowledge_chunks"
    document_id: int = parent_fk("knowledge_documents")
    position: int
    heading_path: str = Field(default="", max_length=1000)
    content: str
    token_count: int = Field(default=0)
    embedder: str = Field(default="", max_length=120)
    embedding: Any = Field(default=None, sa_column=Column(Vector(EMBEDDING_DIM), nullable=True))
    tsv: Any = Field(default=None, sa_column=Column(TSVECTOR, nullable=True))
    created_at: datetime = created_at_field()
    # What knowledge/flags.py found (instruction, payment, phone, link). A flagged chunk is
    # `held`: never quoted nor shown to a model until an admin approves it.
    flags: Any = Field(default_factory=list, sa_column=Column(
        JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")))
    held: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})
    approved_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    approved_at: datetime | None = ts_field()

    __table_args__ = _search_indexes("knowledge_chunks")


class QAPair(AssistantRow, table=True):
    __tablename__ = "qa_pairs"
    question: str = Field(max_length=1000)
    answer: str = Field(max_length=8000)
    embedder: str = Field(default="", max_length=120)
    embedding: Any = Field(default=None, sa_column=Column(Vector(EMBEDDING_DIM), nullable=True))
    tsv: Any = Field(default=None, sa_column=Column(TSVECTOR, nullable=True))
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()

    __table_args__ = _search_indexes("qa_pairs")


# What the latest knowledge check found for a case (knowledge/checks.py): "" never run.
CheckStatus = Literal["", "pass", "miss", "deleted"]
CHECK_STATUSES: tuple[CheckStatus, ...] = get_args(CheckStatus)
# What a case expects: a Q&A pair, or any passage of a document.
CheckKind = Literal["qa", "document"]
CHECK_KINDS: tuple[CheckKind, ...] = get_args(CheckKind)


class KnowledgeCheck(AssistantRow, table=True):
    """A regression case: this question must keep retrieving this pair or document.

    Every saved Q&A pair gets one; the Knowledge page's test chat can keep an answer as
    one. The expected source is a nullable foreign key set to NULL when the source is
    deleted, so the check survives to report exactly that."""

    __tablename__ = "knowledge_checks"
    question: str = Field(max_length=1000)
    kind: str = Field(default="qa", max_length=8)
    qa_pair_id: int | None = Field(default=None, foreign_key="qa_pairs.id",
                                   ondelete="SET NULL", index=True)
    document_id: int | None = Field(default=None, foreign_key="knowledge_documents.id",
                                    ondelete="SET NULL", index=True)
    # What the case expected, kept for the report once the source is gone.
    expected_title: str = Field(default="", max_length=1000)
    status: str = Field(default="", max_length=8)
    detail: str = Field(default="", max_length=1000)
    checked_at: datetime | None = ts_field()
    created_at: datetime = created_at_field()
