"""The development outbox page (/api/dev/mail) holds everyone's reset and confirmation
links: it is served to a browser on the machine itself and to signed-in platform admins,
and is a plain 404 for anyone else. The real API app handles each request; the client
address is set on the connection (httpx's ASGI transport), not in a header."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from backend_services.core.settings import reset_settings_cache
from backend_services.identity import auth
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from state.cookies import SESSION_COOKIE

PW = "Correct-horse-9"
REMOTE = ("203.0.113.5", 40000)


@pytest.fixture
def outbox_mode(tmp_path: Path) -> Iterator[None]:
    """Development without SMTP: mail goes to the outbox, as on a laptop."""
    saved = {k: os.environ.get(k) for k in ("REPLYX_SMTP_HOST", "REPLYX_DATA_DIR",
                                            "REPLYX_TRUSTED_PROXY_HOPS")}
    os.environ.pop("REPLYX_SMTP_HOST", None)
    os.environ["REPLYX_DATA_DIR"] = str(tmp_path)
    reset_settings_cache()
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    reset_settings_cache()


@pytest_asyncio.fixture
async def mails(clean: None, outbox_mode: None) -> AsyncIterator[dict[str, str]]:
    """An ordinary owner (with a reset link in the outbox) and a platform admin."""
    await auth.signup(email="ann@example.com", password=PW, name="Ann", workspace_name="Ann's")
    await auth.create_user(email="ann@example.com", password=PW, name="Ann",
                           workspace_id=None)  # confirmed, not an admin
    await auth.request_password_reset("ann@example.com")
    await auth.signup(email="root@example.com", password=PW, name="Root", workspace_name="Ops")
    await auth.create_user(email="root@example.com", password=PW, name="Root",
                           workspace_id=None, platform_admin=True)
    yield {
        "owner": (await auth.login(email="ann@example.com", password=PW)).session_id,
        "admin": (await auth.login(email="root@example.com", password=PW)).session_id,
    }


async def _get(client: tuple[str, int], session: str | None = None,
               headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=SecurityAndMetrics(build_api()), client=client)
    cookies = {SESSION_COOKIE: session} if session else None
    async with httpx.AsyncClient(transport=transport, base_url="http://replyx.test",
                                 cookies=cookies) as http:
        return await http.get("/api/dev/mail", headers=headers)


def _shows_reset_link(r: httpx.Response) -> bool:
    return r.status_code == 200 and "ann@example.com" in r.text and "token=" in r.text


async def test_a_browser_on_this_machine_sees_the_outbox(mails: dict[str, str]) -> None:
    for peer in (("127.0.0.1", 50000), ("127.0.0.2", 50000), ("::1", 50000)):
        r = await _get(peer)
        assert _shows_reset_link(r), (peer, r.status_code)


async def test_a_remote_visitor_gets_a_404_and_no_links(mails: dict[str, str]) -> None:
    r = await _get(REMOTE)
    assert r.status_code == 404
    assert "token=" not in r.text and "ann@example.com" not in r.text


async def test_a_remote_tenant_owner_gets_a_404(mails: dict[str, str]) -> None:
    r = await _get(REMOTE, session=mails["owner"])
    assert r.status_code == 404
    assert "token=" not in r.text


async def test_a_remote_platform_admin_sees_the_outbox(mails: dict[str, str]) -> None:
    assert _shows_reset_link(await _get(REMOTE, session=mails["admin"]))


async def test_a_request_forwarded_by_a_local_proxy_is_not_local(
    mails: dict[str, str],
) -> None:
    """Behind a reverse proxy on the same machine the peer is 127.0.0.1 for everyone:
    a forwarded request, or any request once a proxy is declared, is treated as remote."""
    local = ("127.0.0.1", 50000)
    r = await _get(local, headers={"X-Forwarded-For": REMOTE[0]})
    assert r.status_code == 404 and "token=" not in r.text
    os.environ["REPLYX_TRUSTED_PROXY_HOPS"] = "1"
    reset_settings_cache()
    assert (await _get(local)).status_code == 404
    assert _shows_reset_link(await _get(local, session=mails["admin"]))
