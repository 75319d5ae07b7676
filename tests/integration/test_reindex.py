"""Changing the embedder re-indexes: vectors of different models are never mixed."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import text
from sqlmodel import select

from backend_services.core.db import session_scope
from backend_services.core.settings import reset_settings_cache
from backend_services.knowledge import retrieval, sources, upkeep
from backend_services.knowledge.embeddings import EmbeddingDimensionError, get_default_embedder
from backend_services.models import KnowledgeChunk, KnowledgeDocument, QAPair
from backend_services.models.knowledge import EMBEDDING_DIM
from tests.integration.test_knowledge import _assistant, _owner, _wait_status
from tests.support.openai_server import OpenAITestServer


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


@pytest.fixture
def remote_embeddings(
    env: pytest.MonkeyPatch, server: OpenAITestServer
) -> Iterator[Callable[[str], None]]:
    """Point REPLYX_EMBEDDINGS_URL at the fake OpenAI server with the given model."""

    def use(model: str) -> None:
        env.setenv("REPLYX_EMBEDDINGS_URL", server.base_url)
        env.setenv("REPLYX_EMBEDDINGS_MODEL", model)
        env.setenv("REPLYX_EMBEDDINGS_API_KEY", "sk-embed")
        reset_settings_cache()
        get_default_embedder.cache_clear()

    yield use
    get_default_embedder.cache_clear()


def embedding_calls(server: OpenAITestServer) -> list[str]:
    return [r.model for r in server.requests if r.path.endswith("/embeddings")]


async def test_an_embeddings_endpoint_setting_indexes_and_searches_through_it(
    worker: None, server: OpenAITestServer, remote_embeddings: Callable[[str], None]
) -> None:
    p = await _owner("remote@example.com")
    a = await _assistant(p)
    doc = await sources.add_file(p, a, "hours.txt", b"The shop opens at nine every weekday.")
    await _wait_status(doc.id, {"ready"})
    local = get_default_embedder().name
    remote_embeddings("text-embedding-3-small")
    embedder = get_default_embedder()
    assert embedder.name.startswith("openai:127.0.0.1:") and embedder.dim == EMBEDDING_DIM
    assert await upkeep.reindex_stale_embeddings() == 1  # the local vectors are replaced
    await _wait_status(doc.id, {"ready"})
    async with session_scope() as s:
        assert set((await s.exec(select(KnowledgeChunk.embedder))).all()) == {embedder.name}
    found = await retrieval.retrieve(p.workspace_id, a, "When does the shop open?")
    assert any("opens at nine" in x.content for x in found.passages)
    assert embedding_calls(server) and set(embedding_calls(server)) == {"text-embedding-3-small"}
    assert {r.key for r in server.requests} == {"sk-embed"}
    assert all(r.body["dimensions"] == EMBEDDING_DIM for r in server.requests)
    assert local != embedder.name


async def test_a_model_of_another_dimension_is_refused_before_anything_is_reindexed(
    worker: None, server: OpenAITestServer, remote_embeddings: Callable[[str], None]
) -> None:
    p = await _owner("wrongdim@example.com")
    a = await _assistant(p)
    doc = await sources.add_file(p, a, "hours.txt", b"The shop opens at nine every weekday.")
    await _wait_status(doc.id, {"ready"})
    remote_embeddings("nomic-embed-text")  # no `dimensions` sent: the server gives 8
    with pytest.raises(EmbeddingDimensionError) as info:
        await upkeep.reindex_stale_embeddings()
    message = str(info.value)
    assert "8-dimensional" in message and f"stores {EMBEDDING_DIM}-dimensional" in message
    assert "REPLYX_EMBEDDINGS_MODEL" in message
    async with session_scope() as s:
        row = await s.get(KnowledgeDocument, doc.id)
        assert row is not None and row.status == "ready"
        assert "openai:" not in " ".join((await s.exec(select(KnowledgeChunk.embedder))).all())
