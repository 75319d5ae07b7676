"""Web pages and sitemaps as knowledge: fetched from a real HTTP server on 127.0.0.1,
crawled within the site, capped in size, and refused when they point at private networks."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web as aioweb

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.settings import reset_settings_cache
from backend_services.identity import auth
from backend_services.knowledge import retrieval, sources, web
from backend_services.models import KnowledgeDocument

PW = "Correct-horse-9"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PAGE = """<html><head><title>{title}</title></head><body><nav>menu</nav>
<h1>{title}</h1><p>{text}</p></body></html>"""


@pytest_asyncio.fixture
async def site() -> AsyncIterator[str]:
    port = _port()
    base = f"http://127.0.0.1:{port}"

    async def page(request: aioweb.Request) -> aioweb.Response:
        name = request.match_info["name"]
        text = {
            "shipping": "Parcels are shipped within two business days from our warehouse.",
            "returns": "Returns are accepted within thirty days with the original receipt.",
            "warranty": "Every device carries a two year warranty against defects.",
        }.get(name)
        if text is None:
            return aioweb.Response(status=404, text="not found")
        return aioweb.Response(text=PAGE.format(title=name.title(), text=text),
                               content_type="text/html")

    async def sitemap(_: aioweb.Request) -> aioweb.Response:
        urls = [f"{base}/p/shipping", f"{base}/p/returns", "https://elsewhere.example/p/x",
                f"{base}/p/warranty"]
        body = ('<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/'
                'sitemap/0.9">' + "".join(f"<url><loc>{u}</loc></url>" for u in urls)
                + "</urlset>")
        return aioweb.Response(text=body, content_type="application/xml")

    async def huge(_: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(body=b"<html>" + b"a" * (3 * 1024 * 1024), content_type="text/html")

    async def away(_: aioweb.Request) -> aioweb.Response:
        raise aioweb.HTTPFound("http://10.0.0.1/secret")

    async def bomb(_: aioweb.Request) -> aioweb.Response:
        body = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><urlset>&a;</urlset>'
        return aioweb.Response(text=body, content_type="application/xml")

    app = aioweb.Application()
    app.router.add_get("/p/{name}", page)
    app.router.add_get("/sitemap.xml", sitemap)
    app.router.add_get("/huge", huge)
    app.router.add_get("/away", away)
    app.router.add_get("/bomb.xml", bomb)
    runner = aioweb.AppRunner(app)
    await runner.setup()
    await aioweb.TCPSite(runner, "127.0.0.1", port).start()
    yield base
    await runner.cleanup()


async def _owner_and_assistant() -> tuple[Principal, int]:
    await auth.signup(email="w@example.com", password=PW, name="W", workspace_name="W")
    await auth.create_user(email="w@example.com", password=PW, name="W", workspace_id=None)
    p = (await auth.login(email="w@example.com", password=PW)).principal
    a = await assistants.create_assistant(p, AssistantInput(name="Shop"))
    assert a.id is not None
    return p, a.id


async def _settled(p: Principal, assistant_id: int, expected: int) -> list[sources.DocumentView]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        docs = await sources.list_documents(p, assistant_id)
        if len(docs) >= expected and all(d.status in ("ready", "failed") for d in docs):
            return docs
        await asyncio.sleep(0.2)  # poll: ingestion jobs update the rows
    raise AssertionError(f"not settled: {[(d.title, d.status) for d in docs]}")


async def test_a_web_page_is_fetched_and_answers(
    worker: None, site: str, allow_private: None
) -> None:
    p, a = await _owner_and_assistant()
    await sources.add_url(p, a, f"{site}/p/shipping")
    [doc] = await _settled(p, a, 1)
    assert (doc.status, doc.title) == ("ready", "Shipping")
    found = await retrieval.retrieve(p.workspace_id, a, "how fast do you ship parcels")
    assert "two business days" in found.passages[0].content
    with pytest.raises(Conflict):
        await sources.add_url(p, a, f"{site}/p/shipping")


async def test_a_sitemap_adds_each_page_of_the_same_site_only(
    worker: None, site: str, allow_private: None
) -> None:
    p, a = await _owner_and_assistant()
    await sources.add_url(p, a, f"{site}/sitemap.xml", sitemap=True)
    docs = await _settled(p, a, 4)
    by_uri = {d.title: d for d in docs}
    assert any(t.startswith("Sitemap 127.0.0.1: 3 pages") for t in by_uri)
    async with session_scope() as s:
        from sqlmodel import select

        uris = set((await s.exec(select(KnowledgeDocument.source_uri))).all())
    assert not any("elsewhere.example" in u for u in uris)
    assert {d.status for d in docs} == {"ready"}
    found = await retrieval.retrieve(p.workspace_id, a, "how long is the warranty")
    assert "two year warranty" in found.passages[0].content


async def test_broken_pages_fail_with_reasons_a_person_understands(
    worker: None, site: str, allow_private: None
) -> None:
    p, a = await _owner_and_assistant()
    await sources.add_url(p, a, f"{site}/p/missing")
    await sources.add_url(p, a, f"{site}/huge")
    await sources.add_url(p, a, f"{site}/bomb.xml", sitemap=True)
    docs = {d.title: d for d in await _settled(p, a, 3)}
    assert "HTTP 404" in docs[f"{site}/p/missing"].error
    assert "larger than" in docs[f"{site}/huge"].error
    assert "not a valid XML sitemap" in docs[f"{site}/bomb.xml"].error
    assert all(d.status == "failed" for d in docs.values())


async def test_private_addresses_are_refused(clean: None, site: str) -> None:
    """SSRF: neither a loopback URL nor a redirect into a private network is fetched."""
    with pytest.raises(web.FetchFailed, match="private network"):
        await web.fetch(f"{site}/p/shipping")
    os.environ["REPLYX_CRAWL_ALLOW_PRIVATE"] = "true"
    reset_settings_cache()
    try:
        await web.fetch(f"{site}/p/shipping")  # reachable when allowed …
    finally:
        os.environ.pop("REPLYX_CRAWL_ALLOW_PRIVATE", None)
        reset_settings_cache()
    with pytest.raises(web.FetchFailed, match="private network"):
        await web.fetch("http://10.0.0.1/secret")


async def test_urls_are_validated(clean: None) -> None:
    p, a = await _owner_and_assistant()
    for bad in ("ftp://x.example/file", "javascript:alert(1)", "http://"):
        with pytest.raises(ValidationFailed):
            await sources.add_url(p, a, bad)
