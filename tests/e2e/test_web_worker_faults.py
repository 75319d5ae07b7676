"""A web worker SIGKILLed under live visitors: the server keeps answering, the worker is
replaced, a visitor whose socket died keeps the same conversation; while the server is
gone the page shows our "Reconnecting…"; a restarted web process does not rebuild. A
worker killed, or a web tier stopped, while a real model stream is half-way through an
answer: the visitor still gets the whole answer, once, with no half of it left on screen.

This module starts its own app (two workers, its own frontend build dir) because it kills
its processes; the session's shared `app_server` is never touched.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import pytest_asyncio
from playwright.async_api import expect
from sqlmodel import select

from backend_services.ai.pool import close_clients
from backend_services.conversations import pending_answers
from backend_services.core.db import async_url, session_scope
from backend_services.models import Message, PendingAnswer
from backend_services.widget import settings as widget
from backend_services.widget.settings import WidgetInput
from tests.conftest import ROOT, TEST_DIR, AppServer, _free_port, _stop_group, _wait_http, _with_db
from tests.e2e.helpers import (
    add_provider_key,
    add_qa_pair,
    create_assistant,
    make_platform_admin,
    make_workspace_owner,
    owner_principal,
)
from tests.e2e.test_widget_loader import HostSite, host_site  # noqa: F401  (fixture)
from tests.support.openai_server import OpenAITestServer, Reply

LIVE = 30_000
BUILD_MARK = "Creating Production Build"


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "replyx_app.cli", "web"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


async def _admin_sql(url: str, sql: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(async_url(url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest_asyncio.fixture(scope="module")
async def faults_db(services: dict[str, str]) -> AsyncIterator[str]:
    """A database of this module's own, used by its app and by the tests while it runs.

    The session's shared app uses the same PostgreSQL with another Redis: sharing the
    database, its workers would take over this app's unfinished answers (both look for
    expired leases every second) and stream them into a Redis these visitors never read.
    One deployment is one database and one Redis; the tests keep it so."""
    from sqlalchemy.engine import make_url

    from backend_services.core import migrations
    from backend_services.core.db import dispose_engine
    from backend_services.core.settings import reset_settings_cache

    shared = services["DATABASE_URL"]
    name = f"replyx_faults_{os.getpid()}"
    url = make_url(shared).set(database=name).render_as_string(hide_password=False)
    await _admin_sql(shared, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin_sql(shared, f'CREATE DATABASE "{name}"')
    await asyncio.to_thread(migrations.upgrade, url)
    os.environ["DATABASE_URL"] = url
    reset_settings_cache()
    await dispose_engine()
    try:
        yield url
    finally:
        os.environ["DATABASE_URL"] = shared
        reset_settings_cache()
        await dispose_engine()
        await _admin_sql(shared, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def faulty_app(services: dict[str, str], faults_db: str) -> Iterator[AppServer]:
    port = _free_port()
    log = TEST_DIR / f"app-faults-{os.getpid()}.log"
    env = {
        **os.environ,
        "DATABASE_URL": faults_db,
        "REDIS_URL": _with_db(services["_redis_base"], 2),
        "REPLYX_PORT": str(port), "REPLYX_HOST": "127.0.0.1", "REPLYX_WEB_WORKERS": "2",
        # Its own build dir: the shared app's build (another port) must stay as it is.
        "REFLEX_WEB_WORKDIR": str(TEST_DIR / "web-faults" / ".web"),
        # Short leases so a dead writer's answer is taken over within seconds.
        "REPLYX_ANSWER_LEASE_SECONDS": "3", "REPLYX_ANSWER_RECOVERY_SECONDS": "1",
        "REPLYX_ANSWER_DRAIN_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    proc = _start(env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{url}/login/", proc, log, timeout=600)
        server = AppServer(url, proc, log, env)
        yield server
    finally:
        _stop_group(server.proc if "server" in locals() else proc)


@pytest_asyncio.fixture
async def fresh(clean: None, faulty_app: AppServer) -> None:
    """`clean` empties the shared app's Redis db; this app's (db 2) holds Reflex states of
    dialogs whose ids restart at 1 after each test's TRUNCATE: empty it too."""
    from redis.asyncio import Redis

    r = Redis.from_url(faulty_app.env["REDIS_URL"])
    await r.flushdb()
    await r.aclose()


def _workers(app: AppServer) -> list[psutil.Process]:
    """Granian's worker processes: children of the granian main process (web_server, which
    `replyx web` becomes by exec)."""
    def alive(p: psutil.Process) -> bool:
        try:
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def is_main(p: psutil.Process) -> bool:
        try:
            return alive(p) and "replyx_app.web_server" in " ".join(p.cmdline())
        except psutil.NoSuchProcess:  # ended between the listing and the look
            return False

    def children(p: psutil.Process) -> list[psutil.Process]:
        try:
            return list(p.children())
        except psutil.NoSuchProcess:
            return []

    top = psutil.Process(app.proc.pid)
    mains = [p for p in [top, *children(top)] if is_main(p)]
    return [c for m in mains for c in children(m) if alive(c)]


class _Poller:
    """Polls /login/ until stopped; records the longest time without an answer."""

    def __init__(self, url: str) -> None:
        self.url, self.longest, self._stop = url, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.05):  # poll interval of the probe
            try:
                with urllib.request.urlopen(self.url, timeout=2) as r:  # noqa: S310
                    ok = r.status == 200
            except OSError:
                ok = False
            now = time.monotonic()
            if ok:
                self.longest = max(self.longest, now - last)
                last = now
        self.longest = max(self.longest, time.monotonic() - last)

    def __enter__(self) -> _Poller:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


async def _visitor(browser: Any, app: AppServer, site: HostSite, public_id: str) -> Any:
    site.html = "<!doctype html><body>" + widget.snippet(app.url, public_id)
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    ctx.set_default_timeout(20_000)
    page = await ctx.new_page()
    await page.goto(site.origin + "/")
    await page.get_by_role("button", name="Open chat").click()
    return page


async def _say(chat: Any, text: str, count: int) -> None:
    await chat.locator("#widget-input").fill(text)
    await chat.locator("#widget-input").press("Enter")
    await expect(chat.locator(".message-visitor")).to_have_count(count, timeout=LIVE)


async def _dialogs_with(text: str) -> set[int]:
    async with session_scope() as s:
        rows = (await s.execute(select(Message.dialog_id).where(Message.content == text))).all()
    return {r[0] for r in rows}


async def _socket_pids(app: AppServer) -> dict[int, int]:
    """Worker pid -> number of established connections it holds on the app's port."""
    port = int(app.url.rsplit(":", 1)[1])
    out: dict[int, int] = {}
    for w in _workers(app):
        out[w.pid] = sum(1 for c in w.net_connections("tcp")
                         if c.laddr and c.laddr.port == port and c.status == "ESTABLISHED")
    return out


async def test_a_killed_worker_is_replaced_and_its_visitors_keep_their_conversation(
    fresh: None, faulty_app: AppServer, browser: Any, host_site: Any,  # noqa: F811
) -> None:
    _, ws = await make_workspace_owner("faults")
    assistant_id = await create_assistant(ws, "Helper")
    sites = [host_site(), host_site()]
    view = await widget.update_settings(await owner_principal(ws), assistant_id,
                                        WidgetInput(allowed_origins=tuple(s.origin for s in sites)))
    pages = [await _visitor(browser, faulty_app, s, view.public_id) for s in sites]
    chats = [p.frame_locator("iframe") for p in pages]
    for i, chat in enumerate(chats):
        await _say(chat, f"before the crash {i}", 1)
    before = [await _dialogs_with(f"before the crash {i}") for i in range(2)]
    assert all(len(d) == 1 for d in before)

    held = await _socket_pids(faulty_app)
    victim = max(held, key=lambda pid: held[pid])  # the worker holding visitor sockets
    assert held[victim] > 0
    with _Poller(faulty_app.url + "/login/") as poll:
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        workers = _workers(faulty_app)
        while time.monotonic() < deadline and (
                len(workers) < 2 or victim in {w.pid for w in workers}):
            await asyncio.sleep(0.2)  # poll: waiting for granian to respawn the worker
            workers = _workers(faulty_app)
    print(f"longest time without an HTTP answer during the kill: {poll.longest:.2f} s")
    assert faulty_app.proc.poll() is None, faulty_app.log_tail()
    # One reading of the process tree, the one the wait ended on: reading it twice could
    # catch the replacement between its fork and its exec and count it twice or not at all.
    seen = [w.pid for w in workers]
    assert len(workers) == 2 and victim not in {w.pid for w in workers}, (seen, victim)

    for i, chat in enumerate(chats):
        await expect(chat.locator(".message-visitor")).to_have_count(1, timeout=LIVE)
        await expect(chat.locator(".message-visitor").first).to_contain_text(
            f"before the crash {i}")
        await _say(chat, f"after the crash {i}", 2)
        assert await _dialogs_with(f"after the crash {i}") == before[i]


async def test_while_the_server_is_gone_visitors_read_our_reconnecting_notice(
    fresh: None, faulty_app: AppServer, browser: Any, host_site: Any,  # noqa: F811
) -> None:
    _, ws = await make_workspace_owner("gone")
    assistant_id = await create_assistant(ws, "Helper")
    site = host_site()
    view = await widget.update_settings(await owner_principal(ws), assistant_id,
                                        WidgetInput(allowed_origins=(site.origin,)))
    page = await _visitor(browser, faulty_app, site, view.public_id)
    chat = page.frame_locator("iframe")
    await _say(chat, "still there?", 1)
    _stop_group(faulty_app.proc)
    await expect(chat.locator("#replyx-reconnecting")).to_contain_text(
        "Reconnecting…", timeout=LIVE)
    await expect(chat.locator("text=ws://")).to_have_count(0)
    await expect(chat.locator("text=Cannot connect")).to_have_count(0)
    # What the visitor writes while the server is gone stays in the box and goes out
    # once the connection is back.
    await chat.locator("#widget-input").fill("written while you were gone")
    await chat.locator("#widget-input").press("Enter")
    await expect(chat.locator("#widget-input")).to_have_value("written while you were gone")

    # The web process started again finds its build current and does not rebuild.
    log = faulty_app.log.with_name(faulty_app.log.stem + "-restart.log")
    faulty_app.proc, faulty_app.log = _start(faulty_app.env, log), log
    _wait_http(f"{faulty_app.url}/login/", faulty_app.proc, log, timeout=300)
    out = log.read_text(errors="replace")
    assert "the frontend build is current; not rebuilding" in out
    assert BUILD_MARK not in out
    await expect(chat.locator("#replyx-reconnecting")).to_have_count(0, timeout=LIVE)
    await expect(chat.locator(".message-visitor")).to_have_count(2, timeout=LIVE)
    await expect(chat.locator(".message-visitor").last).to_contain_text(
        "written while you were gone")
    await expect(chat.locator("#widget-input")).to_have_value("")
    assert len(await _dialogs_with("written while you were gone")) == 1
    await _say(chat, "back again", 3)
    async with session_scope() as s:
        texts = [m.content for m in (await s.exec(select(Message).where(
            Message.sender == "visitor").order_by(Message.id))).all()]
    assert texts.count("written while you were gone") == 1, texts


async def _socket_linked(app: AppServer, token: str) -> None:
    """Wait until a web worker recorded the tab's socket under its token (Reflex's key)."""
    from redis.asyncio import Redis

    r = Redis.from_url(app.env["REDIS_URL"])
    try:
        deadline = time.monotonic() + LIVE / 1000
        while not await r.exists(f"token_manager_socket_record_{token}"):
            assert time.monotonic() < deadline, "the first tab's socket never linked"
            await asyncio.sleep(0.05)  # poll interval of the wait
    finally:
        await r.aclose()


async def test_a_real_duplicate_tab_still_gets_its_own_session(
    fresh: None, faulty_app: AppServer, browser: Any,
) -> None:
    """Two live tabs with the same sessionStorage token (a browser's "duplicate tab"):
    the owner of the token is alive, so the second tab gets a token of its own."""
    ctx = await browser.new_context(base_url=faulty_app.url)
    first = await ctx.new_page()
    await first.goto("/login/")
    await expect(first.get_by_role("button", name="Sign in")).to_be_visible(timeout=LIVE)
    await first.wait_for_function("!!sessionStorage.getItem('token')", timeout=LIVE)
    token = await first.evaluate("sessionStorage.getItem('token')")
    # The page stores its token before its socket links: until the first tab owns the
    # token on the server, the second tab would be the owner and the first the duplicate.
    await _socket_linked(faulty_app, token)
    second = await ctx.new_page()
    await second.add_init_script(f"sessionStorage.setItem('token', {token!r})")
    await second.goto("/login/")
    await expect(second.get_by_role("button", name="Sign in")).to_be_visible(timeout=LIVE)
    # The server hands the duplicate a new token once its socket links.
    await second.wait_for_function(
        f"(sessionStorage.getItem('token') || {token!r}) !== {token!r}", timeout=LIVE)
    assert await second.evaluate("sessionStorage.getItem('token')") != token
    assert await first.evaluate("sessionStorage.getItem('token')") == token
    await ctx.close()


ANSWER = ("Refunds ", "reach your card ", "within five ", "working days.")
# The first model call streams two pieces and then stalls, as a model does mid-answer.
STALLS = Reply(chunks=ANSWER, break_after=2)


@pytest_asyncio.fixture
async def provider() -> Any:
    srv = OpenAITestServer()
    await srv.start()
    yield srv
    await close_clients()
    await srv.stop()


async def _model_shop(app: AppServer, site: HostSite, provider: OpenAITestServer,
                      prefix: str) -> tuple[int, str]:
    email, ws = await make_workspace_owner(prefix)
    await add_provider_key(await make_platform_admin(email), provider.base_url,
                           f"sk-{prefix}-0001")
    assistant_id = await create_assistant(ws, "Shop helper")
    await add_qa_pair(ws, assistant_id, "How long do refunds take?",
                      "Refunds reach your card within five working days.")
    view = await widget.update_settings(await owner_principal(ws), assistant_id,
                                        WidgetInput(allowed_origins=(site.origin,)))
    return ws, view.public_id


async def _half_answered(chat: Any, provider: OpenAITestServer) -> str:
    """Ask; wait until the visitor reads the first half of the answer; return the holder."""
    provider.script(STALLS)
    await _say(chat, "How long do refunds take?", 1)
    await expect(chat.locator("#widget-streaming")).to_contain_text("Refunds", timeout=LIVE)
    async with session_scope() as s:
        [row] = (await s.exec(select(PendingAnswer))).all()
    provider.script(Reply(chunks=ANSWER))  # the next writer's model call answers in full
    return row.holder


async def _owed_and_log(app: AppServer) -> str:
    """What a failed fault test needs to be read: the owed answers and the app's log."""
    async with session_scope() as s:
        owed = (await s.exec(select(PendingAnswer))).all()
    workers = [w.pid for w in _workers(app)] if app.proc.poll() is None else "stopped"
    return f"owed: {owed}\nworkers: {workers}\n{app.log_tail()}"


async def _answered_once(chat: Any, ws: int, app: AppServer) -> None:
    try:
        await expect(chat.locator(".message-ai .message-text")).to_have_text(
            ["Refunds reach your card within five working days."], timeout=LIVE)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{await _owed_and_log(app)}") from None
    await expect(chat.locator("#widget-streaming")).to_have_count(0, timeout=LIVE)
    await expect(chat.locator(".typing-indicator")).to_have_count(0, timeout=LIVE)
    async with session_scope() as s:
        senders = [m.sender for m in (await s.exec(
            select(Message).where(Message.workspace_id == ws).order_by(Message.id))).all()]
    assert senders.count("ai") == 1, senders
    assert await pending_answers.owed_count(ws) == 0


async def test_a_worker_killed_mid_answer_leaves_the_visitor_one_whole_answer(
    fresh: None, faulty_app: AppServer, browser: Any, host_site: Any,  # noqa: F811
    provider: OpenAITestServer,
) -> None:
    site = host_site()
    ws, public_id = await _model_shop(faulty_app, site, provider, "midkill")
    page = await _visitor(browser, faulty_app, site, public_id)
    chat = page.frame_locator("iframe")
    holder = await _half_answered(chat, provider)
    writer = int(holder.split("-")[-2])
    assert writer in {w.pid for w in _workers(faulty_app)}, (holder, _workers(faulty_app))

    os.kill(writer, signal.SIGKILL)
    await _answered_once(chat, ws, faulty_app)
    assert len(provider.calls()) == 2  # the dead writer's call, and the one that answered
    assert faulty_app.proc.poll() is None, faulty_app.log_tail()


async def test_a_web_tier_stopped_mid_answer_answers_after_its_restart(
    fresh: None, faulty_app: AppServer, browser: Any, host_site: Any,  # noqa: F811
    provider: OpenAITestServer,
) -> None:
    """SIGTERM (a deploy, Ctrl-C): the stopping workers wait for the stalled answer for the
    drain time, hand it on, and the web tier started again answers it."""
    site = host_site()
    ws, public_id = await _model_shop(faulty_app, site, provider, "midstop")
    page = await _visitor(browser, faulty_app, site, public_id)
    chat = page.frame_locator("iframe")
    await _half_answered(chat, provider)

    _stop_group(faulty_app.proc)
    async with session_scope() as s:
        [row] = (await s.exec(select(PendingAnswer))).all()
    assert row.holder == "", ("a stopping worker hands its owed answers on\n"
                              + await _owed_and_log(faulty_app))
    await expect(chat.locator("#replyx-reconnecting")).to_be_visible(timeout=LIVE)

    log = faulty_app.log.with_name(faulty_app.log.stem + "-after-stop.log")
    faulty_app.proc, faulty_app.log = _start(faulty_app.env, log), log
    _wait_http(f"{faulty_app.url}/login/", faulty_app.proc, log, timeout=300)
    await _answered_once(chat, ws, faulty_app)
