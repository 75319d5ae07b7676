"""What the user sees when an event handler fails unexpectedly (a bug, a lost database).

Reflex's default handler shows "An error occurred." with the exception's name and text
outside production — which can carry SQL, ids or other tenants' values — and says
nothing useful in production. Ours logs the full traceback for us and shows a plain
sentence. Expected refusals never get here: domain errors become messages in
`state.session.fail`, malformed events are refused by `state.arguments`.
"""

from __future__ import annotations

import logging

import reflex as rx
from reflex_base.event import EventSpec

from backend_services.core import outages, traffic

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = ("Something went wrong on our side and your last action may not "
                        "have been completed. Please try again in a moment.")


# Our database or Redis is unreachable (backend_services/core/outages.py): say so, so nobody
# hunts for a mistake of their own, and say that nothing was saved.
OUTAGE = ("We can't reach our servers' storage right now, so your last action was not "
          "saved. Nothing is lost: try again in a moment.")


def backend_exception_handler(exception: Exception) -> EventSpec:
    """Log the failure for us; tell the user plainly, without exception details."""
    traffic.count_handler_error()
    if outages.is_transient(exception):
        log.warning("event handler failed during an outage: %r", exception)
        spec: EventSpec = rx.toast.error(OUTAGE, id="backend_error")
        return spec
    log.error("event handler failed", exc_info=exception)
    spec = rx.toast.error(SOMETHING_WENT_WRONG, id="backend_error")
    return spec
