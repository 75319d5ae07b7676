"""The no-operator timeout as a procrastinate periodic task, run every minute.

Procrastinate defers each tick once across all job workers (a unique periodic-defer row),
and `handoff.expire_waiting` locks and re-checks each dialog, so running several workers
never fires a timeout twice.
"""

from __future__ import annotations

import logging

from procrastinate import Blueprint

from backend_services.conversations import handoff
from backend_services.core import jobs

log = logging.getLogger(__name__)

blueprint = Blueprint()


@blueprint.periodic(cron="* * * * *", periodic_id="expire-waiting")
@blueprint.task(name="expire_waiting", queue="conversations", pass_context=False)
async def expire_waiting(timestamp: int) -> int:
    expired = await handoff.expire_waiting()
    if expired:
        log.info("no-operator timeout fired for %s dialog(s)", expired)
    return expired


jobs.register("conversations", blueprint)
