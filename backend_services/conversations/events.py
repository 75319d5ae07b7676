"""Dialog events: one typed event for every change a viewer of a dialog must see.

Published only after the change has committed, to two places: the workspace's pub/sub
channel (fan-out: every web worker refreshes the clients it holds, lossy is fine because
PostgreSQL is the truth) and the `dialogs` Redis Stream, which the web layer reads with a
consumer group so that each change is applied to the shared Reflex states exactly once
across workers. The event carries ids only; readers reload through the services, which
decide what each viewer may see (a visitor never gets a note, whatever the event says).
"""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

from backend_services.core import events

log = logging.getLogger(__name__)

# The stream read with XREADGROUP by the web layer: `replyx:stream:dialogs`.
DIALOG_STREAM = "dialogs"
# Bounded: the stream is a hand-off to live consumers, not a history (that is PostgreSQL).
DIALOG_STREAM_MAXLEN = 50_000

ChangeKind = Literal["message", "note", "status", "typing", "read", "rating", "contact"]


class DialogChanged(events.Event):
    """Something about one dialog changed; `message_id` is the newest message it concerns.

    kind: "message" (a message every participant sees), "note" (operators only), "status"
    (status, assignment or flags, usually with the system message that announced it),
    "typing" (nothing stored), "read", "rating", "contact" (the visitor left an address).
    `by` says who caused it: "visitor", "ai", "system" or "user:<id>".
    """

    type: ClassVar[str] = "dialog.changed"
    workspace_id: int
    dialog_id: int
    status: str
    message_id: int | None = None
    kind: str = "message"
    by: str = ""


async def publish_dialog_changed(
    workspace_id: int,
    dialog_id: int,
    status: str,
    *,
    message_id: int | None = None,
    kind: ChangeKind = "message",
    by: str = "",
) -> DialogChanged:
    """Tell every listener and enqueue for the once-only consumer. Call after commit.

    A Redis failure is logged, not raised: the change is already committed, and a client
    that missed it converges when it reloads from PostgreSQL (versions are message ids).
    """
    event = DialogChanged(
        workspace_id=workspace_id,
        dialog_id=dialog_id,
        status=status,
        message_id=message_id,
        kind=kind,
        by=by,
    )
    try:
        await events.publish(event)
        await events.enqueue(DIALOG_STREAM, event, maxlen=DIALOG_STREAM_MAXLEN)
    except Exception:  # the database already has the change; readers reload it
        log.exception("could not publish %s for dialog %s", kind, dialog_id)
    return event
