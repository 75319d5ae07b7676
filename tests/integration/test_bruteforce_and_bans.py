"""Password guessing and addresses that keep failing, as an attacker would try them.

Real PostgreSQL, Valkey and HTTP: the API with the app's ASGI middleware served by
uvicorn on 127.0.0.1. Each test that bans uses its own client address through the real
code path (a client socket bound to 127.0.0.N, or X-Forwarded-For behind
REPLYX_TRUSTED_PROXY_HOPS), never 127.0.0.1, and `clean` empties Redis between tests, so
no ban outlives its test.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select

from backend_services.core import bans
from backend_services.core.db import session_scope
from backend_services.core.errors import NotAuthenticated, NotFound, PermissionDenied, RateLimited
from backend_services.core.principal import Principal
from backend_services.core.settings import reset_settings_cache
from backend_services.identity import auth
from backend_services.models import AuditLog
from backend_services.widget import settings as widget
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from tests.integration.conversation_helpers import shop
from tests.support.api_server import serve
from tests.support.smtp_server import SmtpTestServer

PW = "Correct-horse-9"
LOCKOUT = "Too many failed sign-in attempts. Try again in"
BANNED = "Too many failed requests from your address"
SHOP = "https://shop.example.com"


@pytest_asyncio.fixture
async def api_url(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """The API behind the app's middleware on a real port; bans after 6 failures here."""
    env.setenv("REPLYX_BAN_AFTER_FAILURES", "6")
    reset_settings_cache()
    async with serve(SecurityAndMetrics(build_api())) as url:
        yield url


def client_from(address: str) -> httpx.AsyncClient:
    """An HTTP client whose connections come from `address` (any 127.0.0.0/8 works)."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=address))


async def _owner(smtp: SmtpTestServer, email: str = "ann@example.com") -> None:
    await auth.signup(email=email, password=PW, name="Ann", workspace_name="Ann Co")
    mail = await asyncio.to_thread(smtp.wait_for, email, "Confirm")
    await auth.confirm_email(mail.link("/confirm").split("token=")[1])


async def _audit(action: str) -> list[AuditLog]:
    async with session_scope() as s:
        return list(await s.exec(select(AuditLog).where(AuditLog.action == action)
                                 .order_by(AuditLog.id)))


async def _platform_admin() -> Principal:
    return (await shop("root", platform_admin=True)).owner


async def _try_logins(*attempts: tuple[str, str, str]) -> list[BaseException | None]:
    """Sign-ins (email, password, ip) all at once; each result is None or its error."""
    async def one(email: str, password: str, ip: str) -> BaseException | None:
        try:
            await auth.login(email=email, password=password, ip=ip)
        except (NotAuthenticated, RateLimited) as exc:
            return exc
        return None

    return list(await asyncio.gather(*(one(*a) for a in attempts)))


# --------------------------------------------------------------------------- sign-in limits


async def test_concurrent_wrong_passwords_on_one_account_are_checked_at_most_the_limit(
    clean: None, smtp: SmtpTestServer
) -> None:
    await _owner(smtp)
    results = await _try_logins(*[("ann@example.com", f"Guess-{i}-xyz", "198.51.100.7")
                                  for i in range(12)])
    wrong = [r for r in results if isinstance(r, NotAuthenticated)]
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(wrong) == 5 and len(refused) == 7, results
    assert all(r.message.startswith(LOCKOUT) for r in refused)
    # Only the five that took a slot had their password checked (and audited).
    assert len(await _audit("login_failure")) == 5
    # The account stays locked, even for the right password, from anywhere.
    with pytest.raises(RateLimited, match=LOCKOUT):
        await auth.login(email="ann@example.com", password=PW, ip="198.51.100.8")


async def test_one_address_spraying_many_accounts_is_held_to_the_address_limit(
    clean: None, smtp: SmtpTestServer
) -> None:
    await _owner(smtp)
    results = await _try_logins(*[(f"user{i}@example.com", "Guess-123-xyz", "198.51.100.9")
                                  for i in range(25)])
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert sum(isinstance(r, NotAuthenticated) for r in results) == 20, results
    assert len(refused) == 5 and all(r.message.startswith(LOCKOUT) for r in refused)
    assert len(await _audit("login_failure")) == 20
    # Every account is closed to that address; another address signs in.
    with pytest.raises(RateLimited, match=LOCKOUT):
        await auth.login(email="ann@example.com", password=PW, ip="198.51.100.9")
    assert (await auth.login(email="ann@example.com", password=PW, ip="198.51.100.10")).session_id


async def test_an_office_signing_in_many_times_is_not_locked_but_its_failures_count(
    clean: None, smtp: SmtpTestServer, env: pytest.MonkeyPatch
) -> None:
    env.setenv("REPLYX_LOGIN_MAX_FAILURES_IP", "3")
    reset_settings_cache()
    await _owner(smtp)
    office = "198.51.100.20"
    for _ in range(6):  # twice the address limit: right passwords give their slot back
        assert (await auth.login(email="ann@example.com", password=PW, ip=office)).session_id
    results = await _try_logins(*[(f"typo{i}@example.com", "nope-nope-1", office)
                                  for i in range(5)])
    assert sum(isinstance(r, NotAuthenticated) for r in results) == 3, results
    with pytest.raises(RateLimited, match=LOCKOUT):
        await auth.login(email="ann@example.com", password=PW, ip=office)


# --------------------------------------------------------------------------- bans over HTTP


async def _banned_response(client: httpx.AsyncClient, url: str) -> httpx.Response:
    r = await client.get(f"{url}/widget.js")
    assert r.status_code == 403, r.text
    assert BANNED in r.text
    assert 0 < int(r.headers["retry-after"]) <= 900
    return r


async def test_wrong_telegram_webhook_secrets_ban_the_address_until_an_admin_lifts_it(
    api_url: str, smtp: SmtpTestServer
) -> None:
    attacker, bystander = client_from("127.0.0.2"), client_from("127.0.0.3")
    async with attacker, bystander:
        for i in range(6):
            r = await attacker.post(f"{api_url}/api/telegram/webhook/{100 + i}",
                                    headers={"X-Telegram-Bot-Api-Secret-Token": "guess"},
                                    json={"update_id": 1})
            assert r.json() == {"ok": False, "error": "forbidden"}
        # Banned now: every request of that address, not only the webhook.
        await _banned_response(attacker, api_url)
        r = await attacker.post(f"{api_url}/api/telegram/webhook/100", json={"update_id": 1})
        assert r.status_code == 403 and BANNED in r.text
        assert (await bystander.get(f"{api_url}/widget.js")).status_code == 200

        admin = await _platform_admin()
        [ban] = await bans.list_bans(admin)
        assert (ban.address, ban.kind, ban.failures) == ("127.0.0.2", bans.TELEGRAM_SECRET, 6)
        assert ban.until > time.time()
        [imposed] = await _audit("address_banned")
        assert imposed.target == "127.0.0.2" and imposed.details is not None
        assert imposed.details["kind"] == bans.TELEGRAM_SECRET

        # Nobody but a platform admin may lift it.
        owner = (await shop("b")).owner
        with pytest.raises(PermissionDenied):
            await bans.lift_ban(owner, "127.0.0.2")
        with pytest.raises(PermissionDenied):
            await bans.list_bans(owner)
        await _banned_response(attacker, api_url)

        await bans.lift_ban(admin, "127.0.0.2")
        assert (await attacker.get(f"{api_url}/widget.js")).status_code == 200
        assert await bans.list_bans(admin) == []
        [lifted] = await _audit("ban_lifted")
        assert (lifted.target, lifted.actor_user_id) == ("127.0.0.2", admin.user_id)
        with pytest.raises(NotFound):
            await bans.lift_ban(admin, "127.0.0.2")


async def test_widget_sessions_refused_for_foreign_origins_ban_the_address(
    api_url: str,
) -> None:
    s = await shop("a")
    assert s.bot.id is not None
    public_id = (await widget.update_settings(
        s.owner, s.bot.id, widget.WidgetInput(allowed_origins=(SHOP,)))).public_id
    body = {"widget": public_id}
    async with client_from("127.0.0.4") as prober, client_from("127.0.0.5") as visitor:
        for _ in range(6):
            r = await prober.post(f"{api_url}/api/widget/session", json=body,
                                  headers={"Origin": "https://evil.example.com"})
            assert r.status_code == 403 and "not allowed on" in r.json()["error"]
        # Even from a listed origin the prober gets nothing now; a real visitor does.
        r = await prober.post(f"{api_url}/api/widget/session", json=body,
                              headers={"Origin": SHOP})
        assert r.status_code == 403 and BANNED in r.text and "token" not in r.text
        r = await visitor.post(f"{api_url}/api/widget/session", json=body,
                               headers={"Origin": SHOP})
        assert r.status_code == 200 and r.json()["token"]
    assert (await bans.is_banned("127.0.0.4")) is not None
    assert (await bans.is_banned("127.0.0.4")).kind == bans.WIDGET_ORIGIN  # type: ignore[union-attr]


async def test_failed_sign_ins_ban_the_address_even_on_a_socket_opened_before(
    api_url: str, smtp: SmtpTestServer
) -> None:
    await _owner(smtp)
    guesser = "127.0.0.6"
    for i in range(5):
        with pytest.raises(NotAuthenticated):
            await auth.login(email=f"nobody{i}@example.com", password="x", ip=guesser)
    async with client_from(guesser) as client:
        assert (await client.get(f"{api_url}/widget.js")).status_code == 200
        with pytest.raises(NotAuthenticated):  # the sixth failure bans
            await auth.login(email="nobody9@example.com", password="x", ip=guesser)
        await _banned_response(client, api_url)
    # Sign-in over an already open websocket is refused too, without a password check.
    with pytest.raises(RateLimited, match=BANNED):
        await auth.login(email="ann@example.com", password=PW, ip=guesser)
    assert len(await _audit("login_failure")) == 6
    assert (await auth.login(email="ann@example.com", password=PW, ip="127.0.0.7")).session_id


async def test_only_the_address_our_proxies_saw_counts_not_what_the_client_claims(
    api_url: str, env: pytest.MonkeyPatch
) -> None:
    env.setenv("REPLYX_TRUSTED_PROXY_HOPS", "1")
    reset_settings_cache()
    async with httpx.AsyncClient() as proxy:  # our one proxy, connecting from 127.0.0.1
        for _ in range(6):  # the client put a fake address left of the one our proxy wrote
            r = await proxy.post(f"{api_url}/api/telegram/webhook/1",
                                 headers={"X-Forwarded-For": "192.0.2.1, 203.0.113.9"},
                                 json={"update_id": 1})
            assert r.json()["error"] == "forbidden"
        r = await proxy.get(f"{api_url}/widget.js", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 403 and BANNED in r.text
        for innocent in ("192.0.2.1", "203.0.113.9, 203.0.113.10"):
            r = await proxy.get(f"{api_url}/widget.js", headers={"X-Forwarded-For": innocent})
            assert r.status_code == 200, innocent
    assert await bans.is_banned("192.0.2.1") is None
    # Without trusted hops the header is the client's own words: ignored.
    env.setenv("REPLYX_TRUSTED_PROXY_HOPS", "0")
    reset_settings_cache()
    async with client_from("127.0.0.8") as client:
        r = await client.get(f"{api_url}/widget.js", headers={"X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 200


async def test_loopback_is_never_banned(api_url: str) -> None:
    """The local proxy's address (everyone, when hops are not configured) stays open."""
    async with httpx.AsyncClient() as local:
        for _ in range(10):
            r = await local.post(f"{api_url}/api/telegram/webhook/1", json={"update_id": 1})
            assert r.json() == {"ok": False, "error": "forbidden"}
        assert (await local.get(f"{api_url}/widget.js")).status_code == 200
    assert await bans.is_banned("127.0.0.1") is None and await bans.is_banned("::1") is None


async def test_an_ipv6_client_is_banned_with_its_whole_64(clean: None, env: pytest.MonkeyPatch
                                                          ) -> None:
    env.setenv("REPLYX_BAN_AFTER_FAILURES", "4")
    reset_settings_cache()
    for host in range(1, 5):  # walking through addresses of one /64 does not help
        await bans.record_failure(bans.TELEGRAM_SECRET, f"2001:db8:1:2::{host}")
    ban = await bans.is_banned("2001:db8:1:2:ffff::1")
    assert ban is not None and ban.address == "2001:db8:1:2::/64" and ban.failures == 4
    assert await bans.is_banned("2001:db8:1:3::1") is None
    assert await bans.is_banned("::ffff:127.0.0.1") is None  # loopback, mapped: exempt


async def test_a_ban_ends_by_itself(api_url: str, env: pytest.MonkeyPatch) -> None:
    env.setenv("REPLYX_BAN_SECONDS", "2")
    reset_settings_cache()
    async with client_from("127.0.0.9") as client:
        for _ in range(6):
            await client.post(f"{api_url}/api/telegram/webhook/1", json={"update_id": 1})
        r = await client.get(f"{api_url}/widget.js")
        assert r.status_code == 403 and int(r.headers["retry-after"]) <= 2
        deadline = time.monotonic() + 15
        while (await client.get(f"{api_url}/widget.js")).status_code == 403:
            assert time.monotonic() < deadline, "the ban did not end"
            await asyncio.sleep(0.2)  # poll: waiting for the ban's key to expire
