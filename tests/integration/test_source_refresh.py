"""Web sources fetched again on the schedule the tenant set: a page whose text did not
change is not re-indexed (nor charged), a changed page is, without ever leaving the
answers; a fetch that fails keeps the last good text; a sitemap's pages follow its
schedule; and the schedule is the workspace's own."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from aiohttp import web as aioweb
from sqlmodel import col, select

from backend_services.billing import adjustments, tariffs
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from backend_services.knowledge import ingest, refresh, retrieval, sources
from backend_services.models import KnowledgeChunk, KnowledgeDocument, LedgerEntry
from tests.integration.conversation_helpers import eventually, shop

PAGE = """<html><head><title>Returns</title><script>var token = "{token}";</script></head>
<body><h1>Returns</h1><p>{text}</p></body></html>"""


@dataclass
class Site:
    base: str = ""
    text: str = "Unworn shoes can be returned within 45 days with the receipt."
    token: int = 0  # changes on every request, as session tokens in real pages do
    down: bool = False
    pages: list[str] = field(default_factory=lambda: ["returns"])
    hits: int = 0


@pytest_asyncio.fixture
async def site() -> AsyncIterator[Site]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    state = Site(base=f"http://127.0.0.1:{port}")

    async def page(_: aioweb.Request) -> aioweb.Response:
        state.hits += 1
        state.token += 1
        if state.down:
            return aioweb.Response(status=503, text="maintenance")
        return aioweb.Response(text=PAGE.format(token=state.token, text=state.text),
                               content_type="text/html")

    async def sitemap(_: aioweb.Request) -> aioweb.Response:
        body = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                'sitemap/0.9">' + "".join(f"<url><loc>{state.base}/p/{p}</loc></url>"
                                          for p in state.pages) + "</urlset>")
        return aioweb.Response(text=body, content_type="application/xml")

    app = aioweb.Application()
    app.router.add_get("/p/{name}", page)
    app.router.add_get("/sitemap.xml", sitemap)
    runner = aioweb.AppRunner(app)
    await runner.setup()
    await aioweb.TCPSite(runner, "127.0.0.1", port).start()
    yield state
    await runner.cleanup()


async def _chunks(document_id: int) -> list[tuple[int, str]]:
    async with session_scope() as session:
        rows = await session.exec(select(KnowledgeChunk.id, KnowledgeChunk.content)
                                  .where(KnowledgeChunk.document_id == document_id))
        return [(int(i or 0), c) for i, c in rows]


async def _charges(workspace_id: int) -> int:
    async with session_scope() as session:
        return len(list(await session.exec(select(LedgerEntry).where(
            LedgerEntry.workspace_id == workspace_id, LedgerEntry.kind == "document"))))


async def _doc(document_id: int) -> KnowledgeDocument:
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id)
    assert doc is not None
    return doc


async def test_a_page_is_fetched_again_and_reindexed_only_when_its_text_changed(
    clean: None, site: Site, allow_private: None,
) -> None:
    s = await shop("a", platform_admin=True)
    await tariffs.set_tariff(s.owner, page_minor=4)  # indexed pages cost money
    await adjustments.adjust(s.owner, s.owner.workspace_id, 500, "credit for the test")
    view = await sources.add_url(s.owner, s.bot.id, f"{site.base}/p/returns")
    assert await ingest.run_ingestion(view.id) == "ready"
    first = await _chunks(view.id)
    charged = await _charges(s.owner.workspace_id)
    assert charged == 1
    now = datetime.now(UTC)

    assert await refresh.claim_due(now + timedelta(days=30)) == []  # no schedule: never
    await refresh.set_schedule(s.owner, view.id, 24)
    assert (await sources.get_document(s.owner, view.id)).refresh_hours == 24
    assert await refresh.claim_due(now + timedelta(hours=1)) == []  # not due yet
    assert await refresh.claim_due(now + timedelta(hours=25)) == [view.id]
    assert await refresh.claim_due(now + timedelta(hours=25)) == []  # claimed once

    # Same text (only the page's script token changed): nothing re-indexed or charged.
    hits = site.hits
    assert await refresh.refresh_source(view.id) == "unchanged"
    assert site.hits == hits + 1
    assert await _chunks(view.id) == first
    assert await _charges(s.owner.workspace_id) == charged

    # New text: new chunks, answering at once; the page stayed ready throughout.
    site.text = "Unworn shoes can be returned within 60 days with the receipt."
    assert await refresh.refresh_source(view.id) == "ready"
    assert (await _doc(view.id)).status == "ready"
    found = await retrieval.retrieve(s.owner.workspace_id, s.bot.id, "return unworn shoes")
    assert "60 days" in found.passages[0].content
    assert all("45 days" not in c for _, c in await _chunks(view.id))
    assert await _charges(s.owner.workspace_id) == 2  # the new text, like a new page

    # The site is down: the page keeps answering from its last good text, and says so.
    site.down = True
    assert await refresh.refresh_source(view.id) == "failed"
    doc = await _doc(view.id)
    assert doc.status == "ready" and "re-fetch" in doc.error and doc.chunk_count >= 1
    found = await retrieval.retrieve(s.owner.workspace_id, s.bot.id, "return unworn shoes")
    assert "60 days" in found.passages[0].content
    site.down = False
    assert await refresh.refresh_source(view.id) == "unchanged"
    assert (await _doc(view.id)).error == ""


async def test_the_jobs_queue_runs_due_refreshes_and_sitemap_pages_follow_the_sitemap(
    worker: None, site: Site, allow_private: None,
) -> None:
    s = await shop("a")
    sitemap = await sources.add_url(s.owner, s.bot.id, f"{site.base}/sitemap.xml",
                                    sitemap=True)

    async def pages() -> list[KnowledgeDocument] | None:
        async with session_scope() as session:
            rows = list(await session.exec(select(KnowledgeDocument).where(
                col(KnowledgeDocument.sitemap_id) == sitemap.id)))
        return rows if rows and all(r.status == "ready" for r in rows) else None

    [returns] = await eventually(pages, "the sitemap's page indexed", timeout=120)
    await refresh.set_schedule(s.owner, sitemap.id, 6)
    assert (await _doc(returns.id or 0)).refresh_hours == 6

    site.pages.append("shipping")
    site.text = "Unworn shoes can be returned within 90 days with the receipt."
    later = datetime.now(UTC) + timedelta(hours=7)
    assert await refresh.defer_due(later) == 2  # the sitemap and its page

    async def reindexed() -> bool:
        docs = await pages()
        if docs is None or len(docs) != 2:
            return False
        return any("90 days" in c for _, c in await _chunks(returns.id or 0))

    await eventually(reindexed, "the re-fetch jobs", timeout=120)
    new = [d for d in (await pages() or []) if d.id != returns.id]
    assert [d.refresh_hours for d in new] == [6]  # a new page follows the sitemap too


async def test_only_the_workspaces_admins_set_a_schedule_of_its_web_sources(
    clean: None, site: Site, allow_private: None,
) -> None:
    a, b = await shop("a"), await shop("b")
    page = await sources.add_url(a.owner, a.bot.id, f"{site.base}/p/returns")
    upload = await sources.add_file(a.owner, a.bot.id, "faq.md", b"# FAQ\n\nOpen 9 to 5.")
    with pytest.raises(NotFound):
        await refresh.set_schedule(b.owner, page.id, 24)
    with pytest.raises(PermissionDenied):
        await refresh.set_schedule(a.anna, page.id, 24)
    with pytest.raises(ValidationFailed, match="Only web pages"):
        await refresh.set_schedule(a.owner, upload.id, 24)
    with pytest.raises(ValidationFailed, match="how often"):
        await refresh.set_schedule(a.owner, page.id, 5)
    assert (await _doc(page.id)).refresh_hours == 0
