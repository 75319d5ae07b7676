"""Asking for a notification, in the transaction of the thing that happened.

A domain that has news (a visitor waits, a balance crossed its line, a payment landed)
calls `request` inside its own transaction: the request commits with the change or not
at all, and its key makes it once — a retried transaction, a redelivered update or a
second process asking again writes nothing more. The notifications domain (jobs) turns
requests into e-mails for the people who want them (backend_services/notifications).

Core owns the table because every domain writes it and core imports no domain.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

_INSERT = text("""
INSERT INTO notification_requests (workspace_id, event, key, context)
VALUES (:w, :e, :k, CAST(:c AS jsonb))
ON CONFLICT (workspace_id, key) DO NOTHING
""")


async def request(session: AsyncSession, workspace_id: int, event: str, key: str,
                  **context: Any) -> None:
    """Ask once per `key` (per workspace) for `event` to be told, with `context` (ids and
    short facts, JSON; the sender reloads names and figures when it writes the mail)."""
    if len(key) > 160:
        raise ValueError("notification keys are at most 160 characters")
    await session.exec(_INSERT, params={  # type: ignore[call-overload]
        "w": workspace_id, "e": event, "k": key, "c": json.dumps(context, default=str)})
