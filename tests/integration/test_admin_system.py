"""The admin's System page, below the page: sizes and growth of the database and Valkey,
the job queue and a retry of a failed job, every process's heartbeat, the per-minute
error counts of real HTTP traffic, and every tenant's bots stopped and restarted by the
platform admin — each admin action audited, none of it open to a tenant."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from backend_services.channels.telegram import bots, fleet_admin
from backend_services.core import jobs, traffic
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, PermissionDenied
from backend_services.core.principal import Principal
from backend_services.core.redis_client import get_redis
from backend_services.identity import audit_viewer
from backend_services.identity.audit_viewer import STAFF, AuditFilter
from backend_services.knowledge.sources import INGEST_TASK
from backend_services.models import AuditLog
from backend_services.operations import growth_samples, job_queue, overview
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from replyx_app.web_heartbeat import web_heartbeat
from tests.integration.conversation_helpers import eventually, shop
from tests.support.accounts import signed_in_platform_admin
from tests.support.api_server import serve
from tests.support.fleet_events import fleet_actions
from tests.support.job_queue import failed_job, job_status
from tests.support.telegram_server import TelegramTestServer, serving

TOKEN_A = "7001001001:AAHfLq9x2Ck3vYw8PzR4mTn6sBd1eUgJ0aQ"
TOKEN_B = "7002002002:AAHfLq9x2Ck3vYw8PzR4mTn6sBd1eUgJ0aQ"


@pytest.fixture
async def telegram(clean: None, env: pytest.MonkeyPatch) -> AsyncIterator[TelegramTestServer]:
    async with serving(env, {TOKEN_A: "shop_a_bot", TOKEN_B: "shop_b_bot"}) as server:
        yield server


async def _grow_audit_log(rows: int) -> None:
    async with session_scope() as session:
        session.add_all(AuditLog(action="test_padding", target="x" * 300,
                                 details={"pad": "y" * 2000}) for _ in range(rows))


async def test_the_system_page_shows_sizes_growth_queue_processes_and_errors(
    clean: None,
) -> None:
    root, _ = await signed_in_platform_admin()
    s = await shop("a")
    week_ago = datetime.now(UTC) - timedelta(days=6)
    assert await growth_samples.take(now=week_ago)
    # Another jobs process asking ten minutes later takes no second sample.
    assert not await growth_samples.take(now=week_ago + timedelta(minutes=10))
    await _grow_audit_log(400)

    job_id = await failed_job(999_999)
    waiting_id = await jobs.defer(INGEST_TASK, document_id=999_998)

    # Real HTTP through the middleware every web worker runs: one ok, one 404.
    async with serve(SecurityAndMetrics(build_api())) as url, httpx.AsyncClient() as client:
        assert (await client.get(f"{url}/api/v1/assistants")).status_code == 401
        assert (await client.get(f"{url}/api/no-such-route")).status_code == 404
    beating = asyncio.create_task(web_heartbeat(None))  # flushes the counts, beats "web"
    try:
        view = await eventually(
            lambda: _with_web_worker(root), "the web worker's heartbeat")
    finally:
        beating.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beating

    assert view.problems == []
    assert view.database_bytes and view.database_bytes > 1_000_000
    tables = {t.name: t for t in view.tables}
    assert tables["audit_log"].growth_bytes and tables["audit_log"].growth_bytes > 100_000
    assert tables["messages"].bytes > 0
    assert [d.day for d in view.database_history] == [week_ago.date()]
    assert view.valkey is not None and view.valkey.used_bytes > 0 and view.valkey.keys > 0
    assert "replyx:heartbeat" in dict(view.valkey.families)
    ingest = next(q for q in view.queues if q.queue == INGEST_TASK.queue)
    assert (ingest.waiting, ingest.failed) == (1, 1)
    assert [(j.id, j.task, j.attempts) for j in view.failed_jobs] == [
        (job_id, INGEST_TASK.full_name, 3)]
    assert "document_id=999999" in view.failed_jobs[0].args
    assert view.requests_last_hour >= 2
    assert sum(m.client_errors for m in view.traffic) >= 2
    assert [p.kind for p in view.processes] == ["web"]

    # A tenant sees none of it and retries nothing.
    with pytest.raises(PermissionDenied):
        await overview.system_overview(s.owner)
    with pytest.raises(PermissionDenied):
        await job_queue.retry(s.owner, job_id)

    await job_queue.retry(root, job_id)
    assert await job_status(job_id) == "todo"
    with pytest.raises(NotFound, match="not waiting for a retry"):
        await job_queue.retry(root, job_id)
    with pytest.raises(NotFound):
        await job_queue.retry(root, waiting_id)  # not failed: nothing to retry
    lines = (await audit_viewer.search(root, AuditFilter(action="job_retried"))).lines
    assert [line.target for line in lines] == [f"job:{job_id}:{INGEST_TASK.full_name}"]


async def _with_web_worker(root: Principal) -> overview.SystemOverview | None:
    view = await overview.system_overview(root)
    return view if view.processes and view.requests_last_hour >= 2 else None


async def test_counts_survive_a_failed_flush_and_add_up_across_workers(clean: None) -> None:
    minute = int(datetime.now(UTC).timestamp() // 60) * 60
    await get_redis().hset(f"{traffic.PREFIX}{minute}", mapping={"requests": 10,
                                                                  "server_errors": 1})
    traffic.count_request(500)
    traffic.count_handler_error()
    await traffic.flush()
    last = (await traffic.per_minute(2))[-1]
    assert (last.requests, last.server_errors, last.handler_errors) == (11, 2, 1)
    assert last.error_rate == pytest.approx(3 / 11)
    assert (await traffic.per_minute(2))[0].requests == 0  # a quiet minute reads as zero


async def test_the_admin_stops_and_restarts_any_tenants_bot_audited_in_its_workspace(
    telegram: TelegramTestServer,
) -> None:
    root, _ = await signed_in_platform_admin()
    a, b = await shop("a"), await shop("b")
    assert a.bot.id is not None and b.bot.id is not None
    bot_a = await bots.add_bot(a.owner, a.bot.id, TOKEN_A)
    bot_b = await bots.add_bot(b.owner, b.bot.id, TOKEN_B)

    page = await fleet_admin.list_bots(root)
    assert [(r.workspace, r.username) for r in page.rows] == [
        ("Shop a", "shop_a_bot"), ("Shop b", "shop_b_bot")]
    assert page.total == 2 and sum(page.by_status.values()) == 2
    only_b = await fleet_admin.list_bots(root, "shop b")
    assert [r.id for r in only_b.rows] == [bot_b.id] and only_b.total == 1

    with pytest.raises(PermissionDenied):
        await fleet_admin.list_bots(a.owner)
    with pytest.raises(PermissionDenied):
        await fleet_admin.set_running(a.owner, bot_b.id, False)
    with pytest.raises(NotFound):
        await fleet_admin.set_running(root, 424242, False)

    await fleet_admin.set_running(root, bot_b.id, False)
    assert [x.channel_id for x in await bots.fleet_bots()] == [bot_a.id]
    stopped = await fleet_admin.list_bots(root, "shop_b")
    # No fleet runs here: the bot shows "stopping" until a worker confirms.
    assert [(r.desired, r.status) for r in stopped.rows] == [("stopped", "stopping")]
    await fleet_admin.restart(root, bot_b.id)
    assert sorted(x.channel_id for x in await bots.fleet_bots()) == [bot_a.id, bot_b.id]
    assert (bot_b.id, "restart") in await fleet_actions()

    # Shop b's owner sees who did it: the platform staff, not a member of theirs.
    own = (await audit_viewer.search(b.owner, AuditFilter(), own_workspace=True)).lines
    staff_lines = [(line.action, line.actor) for line in own if line.actor == STAFF]
    assert staff_lines == [("telegram_bot_restarted", STAFF), ("telegram_bot_stopped", STAFF)]
    # Shop a's log has none of it.
    theirs = (await audit_viewer.search(a.owner, AuditFilter(), own_workspace=True)).lines
    assert all(line.actor != STAFF for line in theirs)
