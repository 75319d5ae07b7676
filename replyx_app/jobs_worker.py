"""The jobs process: the durable job worker (ingestion) plus scheduled housekeeping and a
heartbeat the health check reads."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import time

from procrastinate import App

from backend_services.analytics import rollup
from backend_services.billing import payments
from backend_services.conversations import email_thread
from backend_services.core import heartbeats, jobs
from backend_services.core.process_loop import run_until_stopped
from backend_services.core.settings import get_settings
from backend_services.identity import expiry, workspace_deletion
from backend_services.integrations import webhook_delivery, webhook_events
from backend_services.knowledge import refresh, upkeep
from backend_services.notifications import service as notifications
from backend_services.operations import growth_samples

# Modules whose tasks this process runs; importing one registers its blueprint with the
# job registry (which itself imports no domain). Deferring needs none of them.
TASK_MODULES = (
    "backend_services.conversations.answer_ceiling",
    "backend_services.conversations.timeouts",
    "backend_services.knowledge.ingest",
    "backend_services.knowledge.refresh",
)

log = logging.getLogger("replyx.jobs")


def load_tasks() -> App:
    """The job app with every task and periodic task of the product registered."""
    for module in TASK_MODULES:
        importlib.import_module(module)
    return jobs.get_app()

PURGE_EVERY = 3600.0
RECONCILE_EVERY = 300.0
ROLLUP_EVERY = 60.0
WEEKLY_CHECK_EVERY = 3600.0
STALLED_CHECK_EVERY = 15.0
WEBHOOKS_EVERY = 2.0
# How often to ask whether this hour's size sample is due (another host may have taken it).
SAMPLES_CHECK_EVERY = 600.0


async def webhook_loop() -> None:
    """Outgoing webhooks beside the housekeeping tick, so a slow receiver never delays
    the heartbeat: queue what happened since the last scan, then send what is due."""
    while True:
        try:
            await webhook_events.collect()
            while await webhook_delivery.deliver_due() == webhook_delivery.BATCH:
                pass  # a full batch: more may be due
        except Exception:
            log.exception("webhook round failed; retrying in %.0f s", WEBHOOKS_EVERY)
        await asyncio.sleep(WEBHOOKS_EVERY)  # poll: the next round of the loop


async def main() -> None:
    settings = get_settings()
    stalled_every = min(STALLED_CHECK_EVERY, settings.jobs_stalled_seconds)
    interval = min(settings.heartbeat_seconds, stalled_every)
    last = {"purge": -PURGE_EVERY, "stalled": -stalled_every, "payments": -RECONCILE_EVERY,
            "rollup": -ROLLUP_EVERY, "weekly": -WEEKLY_CHECK_EVERY,
            "samples": -SAMPLES_CHECK_EVERY}
    load_tasks()
    worker = {"task": asyncio.create_task(jobs.run_worker())}
    webhooks = asyncio.create_task(webhook_loop())
    inbound = None
    if settings.inbound_smtp_port:
        inbound = await email_thread.start_receiver(settings.inbound_smtp_host,
                                                    settings.inbound_smtp_port)
        log.info("receiving e-mail replies on %s:%s", settings.inbound_smtp_host,
                 settings.inbound_smtp_port)

    async def tick() -> None:
        task = worker["task"]
        if task.done():
            # A database restart or a bad fetch ends procrastinate's worker: start a new one
            # (with a fresh pool) instead of living on as a process that runs no jobs.
            problem = None if task.cancelled() else task.exception()
            log.error("job worker stopped (%r); restarting it", problem)
            await jobs.close()
            worker["task"] = asyncio.create_task(jobs.run_worker())
        await heartbeats.beat("jobs", ttl=int(interval * 3))
        now = time.monotonic()
        if now - last["stalled"] >= stalled_every:
            last["stalled"] = now
            await jobs.retry_stalled_jobs()
            await upkeep.requeue_forgotten_documents()
            await upkeep.reindex_stale_embeddings()
        if now - last["payments"] >= RECONCILE_EVERY:
            last["payments"] = now
            settled = await payments.reconcile()
            if settled:
                log.info("payments asked about: %s", settled)
        if now - last["rollup"] >= ROLLUP_EVERY:
            last["rollup"] = now
            await rollup.refresh()
            await rollup.read_questions()
            due = await refresh.defer_due()
            if due:
                log.info("re-fetching %s web sources on their schedule", due)
        weekly = now - last["weekly"] >= WEEKLY_CHECK_EVERY
        if weekly:
            last["weekly"] = now
        await notifications.run_once(with_weekly=weekly)
        await email_thread.send_due()
        if now - last["samples"] >= SAMPLES_CHECK_EVERY:
            last["samples"] = now
            await growth_samples.take()
        if now - last["purge"] >= PURGE_EVERY:
            last["purge"] = now
            log.info("purged expired rows: %s", await expiry.purge_expired())
            await webhook_delivery.purge_finished()
            deleted = await workspace_deletion.purge_due()
            if deleted:
                log.info("deleted %s workspaces after their grace period", deleted)

    async def stop_worker() -> None:
        if inbound is not None:
            inbound.close()
        webhooks.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await webhooks
        worker["task"].cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker["task"]
        await jobs.close()

    await run_until_stopped(tick, interval, log, before_exit=stop_worker)


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s jobs %(levelname)s %(message)s")
    asyncio.run(main())
