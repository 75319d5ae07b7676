"""Changing the embedder re-indexes: vectors of different models are never mixed."""

from __future__ import annotations

from sqlalchemy import text
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.knowledge import sources, upkeep
from backend_services.knowledge.embeddings import get_default_embedder
from backend_services.models import KnowledgeChunk, QAPair
from tests.integration.test_knowledge import _assistant, _owner, _wait_status


async def test_vectors_from_another_embedder_are_rebuilt(worker: None) -> None:
    p = await _owner("re@example.com")
    a = await _assistant(p)
    doc = await sources.add_file(p, a, "hours.txt", b"The shop opens at nine every weekday.")
    await _wait_status(doc.id, {"ready"})
    await sources.save_qa(p, a, None, "Are you open on Sunday?", "No, only on weekdays.")
    async with session_scope() as s:
        await s.exec(text("UPDATE knowledge_chunks SET embedder = 'old-model'"))  # type: ignore[call-overload]
        await s.exec(text("UPDATE qa_pairs SET embedder = 'old-model'"))  # type: ignore[call-overload]
    assert await upkeep.reindex_stale_embeddings() == 2
    await _wait_status(doc.id, {"ready"})
    current = get_default_embedder().name
    async with session_scope() as s:
        chunk_models = set((await s.exec(select(KnowledgeChunk.embedder))).all())
        qa_models = set((await s.exec(select(QAPair.embedder))).all())
    assert chunk_models == {current} and qa_models == {current}
    assert await upkeep.reindex_stale_embeddings() == 0
