"""Passages held for review: flagged at ingestion (knowledge/flags.py), approved by an admin.

A held passage is skipped by retrieval, so it is neither quoted to a visitor nor given to a
model. The Knowledge page lists them with what was found; approving one lets it answer from
then on (audited), deleting its source removes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.assistants import service as assistants
from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.knowledge.flags import host_of
from backend_services.models import KnowledgeChunk, KnowledgeDocument, Role
from backend_services.models.widget import WidgetSettings

PASSAGE_NOT_FOUND = "Passage not found."


@dataclass(frozen=True)
class HeldPassage:
    chunk_id: int
    document_id: int
    document_title: str
    heading_path: str
    content: str
    flags: tuple[str, ...]


async def own_domains(session: AsyncSession, workspace_id: int, assistant_id: int) -> list[str]:
    """The tenant's own sites for this assistant: where its widget may load, and the sites
    its knowledge was read from. Links to them are not flagged."""
    origins = (await session.exec(
        select(WidgetSettings.allowed_origins).where(
            col(WidgetSettings.workspace_id) == workspace_id,
            col(WidgetSettings.assistant_id) == assistant_id))).first() or []
    sources = await session.exec(
        select(KnowledgeDocument.source_uri).where(
            col(KnowledgeDocument.workspace_id) == workspace_id,
            col(KnowledgeDocument.assistant_id) == assistant_id,
            col(KnowledgeDocument.source_uri) != ""))
    hosts = {host_of(str(o)) for o in origins} | {host_of(u) for u in sources}
    return sorted(h for h in hosts if h)


async def held_passages(principal: Principal, assistant_id: int) -> list[HeldPassage]:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        rows = await session.exec(
            select(KnowledgeChunk, KnowledgeDocument.title)
            .join(KnowledgeDocument, col(KnowledgeDocument.id) == col(KnowledgeChunk.document_id))
            .where(col(KnowledgeChunk.workspace_id) == principal.workspace_id,
                   col(KnowledgeChunk.assistant_id) == assistant_id,
                   col(KnowledgeChunk.held))
            .order_by(col(KnowledgeChunk.document_id), col(KnowledgeChunk.position)))
        return [HeldPassage(c.id or 0, c.document_id, title, c.heading_path, c.content,
                            tuple(c.flags or ())) for c, title in rows]


async def approve(principal: Principal, chunk_id: int) -> None:
    """Let a held passage answer visitors (another workspace's passage is not found)."""
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        chunk = await in_workspace(session, KnowledgeChunk, chunk_id, principal,
                                   missing=PASSAGE_NOT_FOUND, lock=True)
        if not chunk.held:
            return
        chunk.held, chunk.approved_by, chunk.approved_at = False, principal.user_id, \
            datetime.now(UTC)
        session.add(chunk)
        await audit.record_by(session, principal, "knowledge_passage_approved",
                              f"chunk:{chunk.id}", {"flags": list(chunk.flags or ())})
