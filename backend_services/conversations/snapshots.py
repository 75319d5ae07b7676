"""What the live views show, read fresh from PostgreSQL.

The web layer keeps one shared Reflex state per dialog (the visitor and every operator
watching it) and one per workspace inbox. Those states are caches: after any change the
web layer replaces their content with a snapshot from here, so the database — not the
order in which deltas happen to arrive across workers — decides what is shown.

These reads take ids, not a principal, because they run in the fan-out after the web
layer has already checked who may link to which state. Never hand their results to a
client that did not pass that check.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from backend_services.conversations.views import (
    DialogView,
    MessageView,
    dialog_views,
    message_views,
)
from backend_services.core.db import session_scope
from backend_services.models import Dialog, Message

# A shared state is re-sent whole on every change: keep the tails short (DESIGN.md §4).
PUBLIC_TAIL = 40
NOTES_TAIL = 20
INBOX_SIZE = 200


@dataclass(frozen=True)
class DialogSnapshot:
    dialog: DialogView
    messages: list[MessageView]  # what the visitor sees: never notes, oldest first
    notes: list[MessageView]  # operators only, oldest first


async def dialog_snapshot(dialog_id: int) -> DialogSnapshot | None:
    async with session_scope() as session:
        dialog = await session.get(Dialog, dialog_id)
        if dialog is None:
            return None
        public = (await session.exec(
            select(Message)
            .where(col(Message.dialog_id) == dialog_id, col(Message.sender) != "note")
            .order_by(col(Message.id).desc())
            .limit(PUBLIC_TAIL)
        )).all()
        notes = (await session.exec(
            select(Message)
            .where(col(Message.dialog_id) == dialog_id, col(Message.sender) == "note")
            .order_by(col(Message.id).desc())
            .limit(NOTES_TAIL)
        )).all()
        [view] = await dialog_views(session, [dialog])
        return DialogSnapshot(
            dialog=view,
            messages=await message_views(session, list(reversed(public))),
            notes=await message_views(session, list(reversed(notes))),
        )


async def inbox_snapshot(workspace_id: int) -> list[DialogView]:
    """The workspace's open dialogs, most recently active first (queue order is the UI's)."""
    async with session_scope() as session:
        rows = (await session.exec(
            select(Dialog)
            .where(col(Dialog.workspace_id) == workspace_id, col(Dialog.status) != "closed")
            .order_by(col(Dialog.updated_at).desc().nulls_last(), col(Dialog.id).desc())
            .limit(INBOX_SIZE)
        )).all()
        return await dialog_views(session, list(rows))
