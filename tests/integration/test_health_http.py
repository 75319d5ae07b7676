"""/api/health and /metrics over real HTTP (the API served by uvicorn on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from backend_services.core import heartbeats
from backend_services.core.db import dispose_engine
from backend_services.core.embedded_servers import EmbeddedValkey
from backend_services.core.redis_client import close_redis
from backend_services.core.settings import reset_settings_cache
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from tests.support.api_server import serve


def csp_directives(header: str) -> dict[str, str]:
    """A Content-Security-Policy header as {directive: its sources}."""
    out = {}
    for part in header.split(";"):
        name, _, sources = part.strip().partition(" ")
        if name:
            out[name] = sources.strip()
    return out


@pytest_asyncio.fixture
async def api_url(services: dict[str, str]) -> AsyncIterator[str]:
    async with serve(SecurityAndMetrics(build_api())) as url:
        yield url


async def _beat_all() -> None:
    await heartbeats.beat("fleet", ttl=30)
    await heartbeats.beat("jobs", ttl=30)


async def test_health_is_ok_when_everything_answers(clean: None, api_url: str) -> None:
    await _beat_all()
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{api_url}/api/health")
    body = r.json()
    assert r.status_code == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
    # No AI key is a valid set-up (answers come from the knowledge): reported, still 200.
    assert body["checks"]["ai_providers"] == {"ok": False, "configured": 0, "keys": []}


async def test_health_reports_a_missing_worker_as_degraded(clean: None, api_url: str) -> None:
    await heartbeats.beat("fleet", ttl=30)
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{api_url}/api/health")
    assert r.status_code == 503
    assert r.json()["checks"]["workers"]["jobs"] == {"alive": 0, "ok": False}


async def test_health_reports_a_stopped_redis_as_degraded(
    clean: None, api_url: str, tmp_path: Path
) -> None:
    own = EmbeddedValkey(tmp_path / "valkey")
    original = os.environ["REDIS_URL"]
    os.environ["REDIS_URL"] = own.start()
    reset_settings_cache()
    await close_redis()
    try:
        await _beat_all()
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"{api_url}/api/health")).status_code == 200
            own.stop()
            r = await client.get(f"{api_url}/api/health")
        assert r.status_code == 503
        body = r.json()
        assert body["status"] == "degraded"
        assert body["checks"]["redis"]["ok"] is False
        assert body["checks"]["database"]["ok"] is True
    finally:
        own.stop()
        os.environ["REDIS_URL"] = original
        reset_settings_cache()
        await close_redis()


async def test_metrics_are_prometheus_text_with_request_counts(
    clean: None, api_url: str
) -> None:
    async with httpx.AsyncClient() as client:
        await client.get(f"{api_url}/api/health")
        r = await client.get(f"{api_url}/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    assert "replyx_http_requests" in families
    health = [s for s in families["replyx_http_requests"].samples
              if s.labels.get("route") == "/api/health"]
    assert health and health[0].value >= 1
    assert "replyx_db_pool_connections" in families
    assert "replyx_websocket_connections" in families


async def test_every_response_forbids_framing_by_other_sites(clean: None, api_url: str) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.get(f"{api_url}/api/health")
    policy = csp_directives(r.headers["content-security-policy"])
    assert policy["frame-ancestors"] == "'self'"
    assert (policy["object-src"], policy["base-uri"]) == ("'none'", "'self'")
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert r.headers["x-content-type-options"] == "nosniff"


@contextlib.contextmanager
def _unreachable(kind: str) -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections, or one that accepts and never answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        if kind == "silent":
            s.listen(64)  # the kernel completes the handshake; nobody ever reads or replies
        yield int(s.getsockname()[1])


@pytest.mark.parametrize("kind", ["refusing", "silent"])
@pytest.mark.parametrize("dependency", ["redis", "database"])
async def test_health_answers_503_quickly_naming_an_unreachable_dependency(
    clean: None, api_url: str, dependency: str, kind: str
) -> None:
    await _beat_all()
    var = "REDIS_URL" if dependency == "redis" else "DATABASE_URL"
    original = os.environ[var]
    with _unreachable(kind) as port:
        os.environ[var] = (f"redis://127.0.0.1:{port}/0" if dependency == "redis"
                           else f"postgresql://replyx@127.0.0.1:{port}/replyx")
        reset_settings_cache()
        await close_redis()
        await dispose_engine()
        try:
            # The old sequential 3 s deadlines took longer than this bound for a silent peer.
            async with httpx.AsyncClient(timeout=2.5) as client:
                start = time.perf_counter()
                r = await client.get(f"{api_url}/api/health")
                elapsed = time.perf_counter() - start
            print(f"/api/health with {dependency} {kind}: {r.status_code} in {elapsed:.3f} s")
            assert r.status_code == 503
            body = r.json()
            assert body["status"] == "degraded"
            assert dependency in body["failing"]
            assert body["checks"][dependency]["ok"] is False
            other = "database" if dependency == "redis" else "redis"
            assert body["checks"][other]["ok"] is True  # the healthy one is not blamed
        finally:
            os.environ[var] = original
            reset_settings_cache()
            await close_redis()
            await dispose_engine()
