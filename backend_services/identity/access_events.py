"""`UserAccessChanged`: published after a change of what a user may see has committed.

Open live views (an operator's console) were linked while access was valid; this event is
how they learn that it ended without waiting for the user's next click. It goes to the
`access` Redis Stream, read by one member of the web layer's consumer group, which
re-checks that user's tabs against the database (state/live_access.py). A lost event
(Redis down) is caught up by the web layer's periodic sweep, so it is logged, not raised.
"""

from __future__ import annotations

import logging

from backend_services.core import events
from backend_services.core.events import UserAccessChanged

log = logging.getLogger(__name__)

ACCESS_STREAM = "access"
ACCESS_STREAM_MAXLEN = 10_000


async def publish_access_changed(user_id: int, *, workspace_id: int | None = None,
                                 reason: str = "") -> None:
    """Call after commit."""
    event = UserAccessChanged(user_id=user_id, workspace_id=workspace_id, reason=reason)
    try:
        await events.enqueue(ACCESS_STREAM, event, maxlen=ACCESS_STREAM_MAXLEN)
    except Exception:  # the change is committed; the sweep re-checks every tab soon
        log.exception("could not publish an access change of user %s", user_id)
