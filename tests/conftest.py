"""Test harness: real PostgreSQL + pgvector, real Valkey, a real SMTP server, the real app.

PostgreSQL and Valkey are the embedded servers (or TEST_DATABASE_URL / TEST_REDIS_URL).
Each session gets a fresh database; each test starts from empty tables. The web app is
started once per session, production build, and driven with Debian's Chromium.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support.smtp_server import SmtpTestServer

ROOT = Path(__file__).resolve().parent.parent
TEST_DIR = ROOT / ".replyx-test"
CHROMIUM = "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _with_db(url: str, db: int) -> str:
    base = url.rsplit("/", 1)[0] if url.count("/") > 2 else url
    return f"{base}/{db}"


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpTestServer]:
    server = SmtpTestServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def services(smtp: SmtpTestServer) -> Iterator[dict[str, str]]:
    """Database and Redis URLs for this session, exported so settings pick them up."""
    from backend_services.core.embedded_servers import EmbeddedPostgres, EmbeddedValkey

    TEST_DIR.mkdir(exist_ok=True)
    pg: EmbeddedPostgres | None = None
    valkey: EmbeddedValkey | None = None
    db_url = os.environ.get("TEST_DATABASE_URL")
    if not db_url:
        pg = EmbeddedPostgres(TEST_DIR / "postgres", stop_on_exit=True)
        pg.start()
        db_url = pg.ensure_database(f"replyx_test_{os.getpid()}", recreate=True)
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        shutil.rmtree(TEST_DIR / f"valkey-{os.getpid()}", ignore_errors=True)
        valkey = EmbeddedValkey(TEST_DIR / f"valkey-{os.getpid()}")
        redis_url = valkey.start()
    data_dir = TEST_DIR / f"data-{os.getpid()}"
    shutil.rmtree(data_dir, ignore_errors=True)
    env = {
        "DATABASE_URL": db_url,
        "REDIS_URL": _with_db(redis_url, 0),
        "REPLYX_DATA_DIR": str(data_dir),
        "REPLYX_SMTP_HOST": "127.0.0.1",
        "REPLYX_SMTP_PORT": str(smtp.port),
        "REPLYX_DEMO_SEED": "false",
    }
    os.environ.update(env)
    from backend_services.core import migrations
    from backend_services.core.settings import reset_settings_cache

    reset_settings_cache()
    migrations.upgrade(db_url)
    yield {**env, "_redis_base": redis_url,
           "_valkey_pid": str(valkey.pid or "") if valkey is not None else ""}
    if valkey is not None:
        valkey.stop()
        shutil.rmtree(TEST_DIR / f"valkey-{os.getpid()}", ignore_errors=True)
    if pg is not None:
        # The server itself stops at exit once no other process holds it (pgserver counts).
        pg.drop_database(f"replyx_test_{os.getpid()}")


# Every table but these is emptied before each test, so a new table needs no list edit.
# procrastinate_workers stays: a running `replyx jobs` keeps its worker row.
KEEP_TABLES = ("alembic_version", "procrastinate_workers")


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Set REPLYX_* variables for one test; settings are re-read before and after."""
    from backend_services.core.settings import reset_settings_cache

    reset_settings_cache()
    yield monkeypatch
    monkeypatch.undo()
    reset_settings_cache()


@pytest.fixture
def allow_private(env: pytest.MonkeyPatch) -> Iterator[None]:
    """Test sites are on 127.0.0.1, which production refuses to fetch (SSRF)."""
    env.setenv("REPLYX_CRAWL_ALLOW_PRIVATE", "true")
    from backend_services.core.settings import reset_settings_cache

    reset_settings_cache()
    yield


@pytest_asyncio.fixture
async def clean(services: dict[str, str]) -> AsyncIterator[None]:
    """Empty tables and empty Redis dbs before the test: nothing leaks between tests."""
    from redis.asyncio import Redis
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from backend_services.core import ratelimit
    from backend_services.core.db import get_engine
    from backend_services.core.redis_client import get_redis

    for attempt in range(5):
        try:
            async with get_engine().begin() as conn:
                names = (
                    await conn.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                             "AND NOT (tablename = ANY(:keep))"),
                        {"keep": list(KEEP_TABLES)},
                    )
                ).scalars().all()
                tables = ", ".join(f'"{n}"' for n in names)
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            break
        except DBAPIError as exc:
            # The shared app server's jobs read these tables while TRUNCATE takes its locks
            # one table at a time; PostgreSQL breaks such a deadlock by aborting us: retry.
            if getattr(exc.orig, "sqlstate", None) != "40P01" or attempt == 4:
                raise
    await get_redis().flushdb()
    # The e2e app keeps its rate-limit counters in db 1: start every test with none.
    app_redis = Redis.from_url(_with_db(services["_redis_base"], 1))
    await app_redis.flushdb()
    await app_redis.aclose()
    ratelimit.reset_storage()
    # Workspace ids restart at 1 each test: stored uploads must go with the rows.
    shutil.rmtree(Path(services["REPLYX_DATA_DIR"]) / "uploads", ignore_errors=True)
    yield


@pytest_asyncio.fixture
async def worker(clean: None) -> AsyncIterator[None]:
    """A real procrastinate worker in this process (ingestion jobs), stopped after the test."""
    from backend_services.core import jobs
    from replyx_app.jobs_worker import load_tasks

    await jobs.close()
    load_tasks()
    task = asyncio.create_task(jobs.run_worker(concurrency=1, name="test-worker"))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await jobs.close()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[int]:
    """Our SMTP receiver of visitors' e-mail replies (conversations.email_thread) on a
    free port of this test's event loop (the database pool's); yields the port."""
    from backend_services.conversations import email_thread

    port = _free_port()
    server = await email_thread.start_receiver("127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()


@pytest.fixture
def api_base(telegram_api: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The session's Telegram test server as this process's Bot API (adding a bot checks
    its token there)."""
    from backend_services.core.settings import reset_settings_cache

    monkeypatch.setenv("REPLYX_TELEGRAM_API_BASE", telegram_api.base_url)
    reset_settings_cache()
    yield telegram_api
    monkeypatch.undo()
    reset_settings_cache()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Any]:
    """The fake OpenAI-compatible server (tests/support/openai_server.py) on 127.0.0.1."""
    from backend_services.ai.pool import close_clients
    from tests.support.openai_server import OpenAITestServer

    srv = OpenAITestServer()
    await srv.start()
    yield srv
    await close_clients()  # the pool's keep-alive connections point at this server
    await srv.stop()


# --------------------------------------------------------------------------- the real app


class AppServer:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.url = url
        self.env = env or {}  # what the app runs with: its Redis db differs from the tests'
        self.proc = proc
        self.log = log

    def log_tail(self, n: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-n:]


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the app exited during start-up:\n" + log.read_text()[-4000:])
        try:
            with urllib.request.urlopen(url, timeout=2) as r:  # noqa: S310 - our own server
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)  # poll: waiting for the production build to come up
    raise RuntimeError("the app did not come up in time:\n" + log.read_text()[-4000:])


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


@pytest_asyncio.fixture(scope="session")
async def telegram_api() -> AsyncIterator[Any]:
    """The Telegram Bot API test server the app talks to (tests/support/telegram_server.py)."""
    from tests.support.telegram_server import TelegramTestServer

    async with TelegramTestServer() as srv:
        yield srv


@pytest_asyncio.fixture(scope="session")
async def payment_gateways() -> AsyncIterator[Any]:
    """Both payment gateways' emulators (tests/support/payment_gateways.py) for the app."""
    from tests.support.payment_gateways import TinkoffServer, YooKassaServer

    tinkoff, yookassa = TinkoffServer(), YooKassaServer()
    await tinkoff.start()
    await yookassa.start()
    yield tinkoff, yookassa
    await tinkoff.stop()
    await yookassa.stop()


@pytest.fixture(scope="session")
def app_server(services: dict[str, str], telegram_api: Any,
               payment_gateways: Any) -> Iterator[AppServer]:
    """`replyx web` in production mode with two web workers, on a free port."""
    port = _free_port()
    tinkoff, yookassa = payment_gateways
    yookassa.webhook_url = f"http://127.0.0.1:{port}/api/payments/yookassa/notify"
    log = TEST_DIR / f"app-{os.getpid()}.log"
    env = {
        **os.environ,
        "REDIS_URL": _with_db(services["_redis_base"], 1),
        "REPLYX_TELEGRAM_API_BASE": telegram_api.base_url,
        "REPLYX_TINKOFF_API_URL": tinkoff.api_url,
        "REPLYX_TINKOFF_TERMINAL_KEY": tinkoff.terminal_key,
        "REPLYX_TINKOFF_PASSWORD": tinkoff.password,
        "REPLYX_YOOKASSA_API_URL": yookassa.api_url,
        "REPLYX_YOOKASSA_SHOP_ID": yookassa.shop_id,
        "REPLYX_YOOKASSA_SECRET_KEY": yookassa.secret_key,
        "REPLYX_YOOKASSA_CHECK_SOURCE": "false",  # the emulator is on 127.0.0.1
        "REPLYX_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "REPLYX_PORT": str(port),
        "REPLYX_HOST": "127.0.0.1",
        "REPLYX_WEB_WORKERS": "2",
        # Consoles of expired sessions are re-checked every few seconds, not every minute.
        "REPLYX_LIVE_RECHECK_SECONDS": "3",
        # An answer whose writer died is taken over within a few seconds, not half a minute.
        "REPLYX_ANSWER_LEASE_SECONDS": "3",
        "REPLYX_ANSWER_RECOVERY_SECONDS": "1",
        "PYTHONUNBUFFERED": "1",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "replyx_app.cli", "web"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/login/", proc, log, timeout=600)
        yield AppServer(url, proc, log, env)
    finally:
        _stop_group(proc)


@pytest_asyncio.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright, expect

    # Playwright's 5 s for `expect` is tight for a page that reloads its whole state on a
    # 2-core CI machine also running the jobs worker; a real failure still fails.
    expect.set_options(timeout=15_000)

    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )
        yield b
        await b.close()


@pytest_asyncio.fixture
async def new_context(browser: Any, app_server: AppServer) -> AsyncIterator[Any]:
    """Make isolated browser contexts (one per user); all are closed after the test."""
    contexts: list[Any] = []

    async def make(**options: Any) -> Any:
        """`options` go to Playwright (a locale, a colour scheme…)."""
        ctx = await browser.new_context(base_url=app_server.url,
                                        **{"viewport": {"width": 1280, "height": 800},
                                           **options})
        ctx.set_default_timeout(20_000)
        contexts.append(ctx)
        return ctx

    yield make
    for ctx in contexts:
        await ctx.close()


# Modules that play web workers taking over expired answer leases themselves: once the
# shared app runs, its workers take over the same rows (same database), so these run
# before any test starts it.
BEFORE_THE_APP = ("tests/integration/test_pending_answers.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "e2e" in item.nodeid.split("/"):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: not item.nodeid.startswith(BEFORE_THE_APP))
