"""Collecting webhook events from what the database already holds.

Events are not pushed from the conversation code: the jobs process reads, for each active
endpoint, the rows its events come from (dialogs, messages, handoff requests, closings,
ratings) in a time window since the endpoint's `scanned_until`, and stores one delivery
per event. Every delivery's (endpoint, event id) is unique, so the window reaches back
`OVERLAP` before the mark: a row whose transaction committed a little after its timestamp
is still found, and one found twice is stored once. The hot path stays untouched, a jobs
process that was down catches up from the mark, and nothing is queued that the database
does not hold. Events from before an endpoint existed (or while it was off) are not sent.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from backend_services.core.db import session_scope, sql_rows
from backend_services.integrations.webhooks import envelope
from backend_services.models import WebhookDelivery, WebhookEndpoint

OVERLAP = timedelta(seconds=60)
SETTLE = timedelta(seconds=1)  # rows younger than this wait for the next scan
BATCH = 1000

_DIALOG = """d.id, d.assistant_id, a.name AS assistant_name, d.status, d.contact_id,
             c.kind AS channel, c.name AS contact_name, c.email AS contact_email,
             d.created_at, d.closed_at, d.rating, d.rated_handler, d.rated_at,
             d.handoff_reason"""
_FROM_DIALOG = """FROM dialogs d JOIN contacts c ON c.id = d.contact_id
                  JOIN assistants a ON a.id = d.assistant_id"""

QUERIES: dict[str, str] = {
    "dialog.created": f"""SELECT {_DIALOG}, d.created_at AS at {_FROM_DIALOG}
        WHERE d.workspace_id = :w AND d.created_at >= :since AND d.created_at < :until""",
    "dialog.closed": f"""SELECT {_DIALOG}, d.closed_at AS at {_FROM_DIALOG}
        WHERE d.workspace_id = :w AND d.closed_at >= :since AND d.closed_at < :until""",
    "dialog.rated": f"""SELECT {_DIALOG}, d.rated_at AS at {_FROM_DIALOG}
        WHERE d.workspace_id = :w AND d.rated_at >= :since AND d.rated_at < :until""",
    "message.created": """SELECT m.id, m.dialog_id, m.sender, m.content, m.created_at AS at,
            coalesce(u.name, '') AS author_name, d.assistant_id
        FROM messages m JOIN dialogs d ON d.id = m.dialog_id
        LEFT JOIN users u ON u.id = m.author_user_id
        WHERE m.workspace_id = :w AND m.sender <> 'note'
          AND m.created_at >= :since AND m.created_at < :until""",
    "handoff.requested": """SELECT h.id, h.dialog_id, h.reason, h.actor, h.created_at AS at,
            d.assistant_id
        FROM handoff_events h JOIN dialogs d ON d.id = h.dialog_id
        WHERE h.workspace_id = :w AND h.to_state = 'requested'
          AND h.created_at >= :since AND h.created_at < :until""",
}


def _dialog_data(m: Any) -> dict[str, Any]:
    return {"dialog": {
        "id": m["id"], "assistant_id": m["assistant_id"], "assistant_name": m["assistant_name"],
        "status": m["status"], "channel": m["channel"], "contact_id": m["contact_id"],
        "contact_name": m["contact_name"], "contact_email": m["contact_email"],
        "created_at": m["created_at"].isoformat(),
        "closed_at": m["closed_at"].isoformat() if m["closed_at"] else None,
        "rating": m["rating"], "rated_handler": m["rated_handler"] or None,
        "handoff_reason": m["handoff_reason"] or None}}


def _event(event_type: str, m: Any) -> tuple[str, dict[str, Any]]:
    """(event id, data) of one row; the id is stable, so a row seen again is no news."""
    if event_type == "message.created":
        return f"message.created:{m['id']}", {
            "dialog_id": m["dialog_id"], "assistant_id": m["assistant_id"],
            "message": {"id": m["id"], "sender": m["sender"], "content": m["content"],
                        "author_name": m["author_name"] or None,
                        "created_at": m["at"].isoformat()}}
    if event_type == "handoff.requested":
        return f"handoff.requested:{m['id']}", {
            "dialog_id": m["dialog_id"], "assistant_id": m["assistant_id"],
            "reason": m["reason"], "requested_by": m["actor"]}
    suffix = f":{int(m['at'].timestamp() * 1000)}" if event_type == "dialog.rated" else ""
    return f"{event_type}:{m['id']}{suffix}", _dialog_data(m)


async def _collect_one(endpoint_id: int) -> int:
    async with session_scope() as session:
        endpoint = (await session.exec(
            select(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint_id,
                                          col(WebhookEndpoint.is_active))
            .with_for_update(skip_locked=True))).first()
        if endpoint is None:  # gone, off, or another jobs process is on it
            return 0
        now = (await sql_rows(session, sa.text("SELECT now()")))[0][0]
        until: datetime = now - SETTLE
        since = max(endpoint.created_at, endpoint.scanned_until - OVERLAP)
        mark = until
        rows: list[dict[str, Any]] = []
        for event_type in [e for e in endpoint.events if e in QUERIES]:
            found = await sql_rows(session, sa.text(QUERIES[event_type] + " ORDER BY at LIMIT "
                                                   + str(BATCH)),
                                   {"w": endpoint.workspace_id, "since": since, "until": until})
            if len(found) == BATCH:  # more than a batch: resume from the last one seen
                mark = min(mark, found[-1]._mapping["at"])
            for r in found:
                event_id, data = _event(event_type, r._mapping)
                rows.append({"workspace_id": endpoint.workspace_id, "endpoint_id": endpoint_id,
                             "event_id": event_id, "event_type": event_type,
                             "payload": envelope(event_id, event_type, endpoint.workspace_id,
                                                 data, r._mapping["at"]),
                             "next_attempt_at": now})
        added = 0
        if rows:
            stmt = insert(WebhookDelivery).values(rows).on_conflict_do_nothing(
                index_elements=["endpoint_id", "event_id"]).returning(col(WebhookDelivery.id))
            added = len(await sql_rows(session, stmt))
        endpoint.scanned_until = max(endpoint.scanned_until, mark)
        session.add(endpoint)
    return added


async def collect() -> int:
    """One scan of every active endpoint; how many deliveries were queued."""
    async with session_scope() as session:
        ids = list(await session.exec(select(WebhookEndpoint.id).where(
            col(WebhookEndpoint.is_active))))
    total = 0
    for endpoint_id in ids:
        assert endpoint_id is not None
        total += await _collect_one(endpoint_id)
    return total
