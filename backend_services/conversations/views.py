"""What callers get back: frozen views of dialogs and messages, built in batches.

Views are plain text and ids: nobody renders HTML from them. A dialog's preview is the last
message every participant sees, never a note, because visitors receive dialog views too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core.views import view_from
from backend_services.models import Assistant, Contact, Dialog, Message, User
from backend_services.models.conversations import DialogRead

Sender = Literal["visitor", "ai", "operator", "system", "note"]
DialogStatus = Literal["ai", "requested", "active", "closed"]
# Who moved a dialog between statuses (HandoffEvent.actor).
TransitionActor = Literal["user", "visitor", "system"]
STATUSES: tuple[DialogStatus, ...] = get_args(DialogStatus)


@dataclass(frozen=True)
class MessageView:
    id: int
    dialog_id: int
    sender: Sender
    author_user_id: int | None
    author_name: str
    content: str
    sources: list[dict[str, Any]] = field(default_factory=list)  # kind, title, passage, ref_id
    confidence: float | None = None
    created_at: datetime | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class DialogView:
    id: int
    workspace_id: int
    assistant_id: int
    assistant_name: str
    channel_kind: str
    contact_id: int
    contact_name: str
    contact_email: str
    status: DialogStatus
    assigned_user_id: int | None
    assigned_user_name: str
    rating: int | None
    rated_handler: str  # "" | ai | human
    created_at: datetime
    updated_at: datetime | None
    handoff_requested_at: datetime | None
    accepted_at: datetime | None
    first_human_reply_at: datetime | None
    closed_at: datetime | None
    last_message_id: int | None
    last_message_preview: str
    waiting_seconds: int  # how long it has waited for a human (status "requested" only)
    unread: int  # visitor messages the asking operator has not read (0 for visitors)
    awaiting_contact: bool  # the visitor is asked to leave a name and e-mail
    handoff_reason: str = ""  # why the latest request for a human was made
    first_reply_seconds: int | None = None  # SLA: request -> first human reply
    email_thread: bool = False  # replies go to the visitor's e-mail (email_thread.py)


@dataclass(frozen=True)
class PostedMessage:
    dialog: DialogView
    message: MessageView
    duplicate: bool


def preview(text: str, limit: int = 200) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def _names(session: AsyncSession, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await session.exec(select(User.id, User.name, User.email).where(
        col(User.id).in_(user_ids)))
    return {uid: (name or email.split("@")[0]) for uid, name, email in rows if uid is not None}


async def _unread(session: AsyncSession, dialog_ids: list[int], user_id: int) -> dict[int, int]:
    if not dialog_ids:
        return {}
    read = sa.func.coalesce(col(DialogRead.last_read_message_id), 0)
    rows = await session.exec(
        select(col(Message.dialog_id), sa.func.count())
        .select_from(Message)
        .outerjoin(
            DialogRead,
            sa.and_(col(DialogRead.dialog_id) == col(Message.dialog_id),
                    col(DialogRead.user_id) == user_id),
        )
        .where(col(Message.dialog_id).in_(dialog_ids), col(Message.sender) == "visitor",
               col(Message.id) > read)
        .group_by(col(Message.dialog_id))
    )
    return {int(d): int(n) for d, n in rows}


async def dialog_views(
    session: AsyncSession, dialogs: Sequence[Dialog], *, for_user: int | None = None
) -> list[DialogView]:
    """Views of `dialogs` in the same order; `for_user` (an operator) gets unread counts."""
    if not dialogs:
        return []
    assistant_ids = {d.assistant_id for d in dialogs}
    contact_ids = {d.contact_id for d in dialogs}
    assistants = {
        a_id: name for a_id, name in await session.exec(
            select(Assistant.id, Assistant.name).where(col(Assistant.id).in_(assistant_ids)))
    }
    contacts = {
        c.id: c for c in await session.exec(
            select(Contact).where(col(Contact.id).in_(contact_ids)))
    }
    names = await _names(session, {d.assigned_user_id for d in dialogs if d.assigned_user_id})
    unread = (
        await _unread(session, [d.id for d in dialogs if d.id is not None], for_user)
        if for_user is not None else {}
    )
    now = datetime.now(UTC)
    out: list[DialogView] = []
    for d in dialogs:
        assert d.id is not None
        contact = contacts.get(d.contact_id)
        waiting = 0
        if d.status == "requested" and d.handoff_requested_at is not None:
            waiting = max(0, int((now - d.handoff_requested_at).total_seconds()))
        out.append(view_from(
            DialogView, d,
            assistant_name=assistants.get(d.assistant_id, ""),
            channel_kind=contact.kind if contact else "",
            contact_name=contact.name if contact else "",
            contact_email=contact.email if contact else "",
            status=cast(DialogStatus, d.status),  # only our code writes the column
            assigned_user_name=names.get(d.assigned_user_id or 0, ""),
            waiting_seconds=waiting,
            unread=unread.get(d.id, 0),
        ))
    return out


async def dialog_view(
    session: AsyncSession, dialog: Dialog, *, for_user: int | None = None
) -> DialogView:
    return (await dialog_views(session, [dialog], for_user=for_user))[0]


async def message_views(
    session: AsyncSession, messages: Sequence[Message]
) -> list[MessageView]:
    if not messages:
        return []
    users = await _names(session, {m.author_user_id for m in messages if m.author_user_id})
    dialog_ids = {m.dialog_id for m in messages}
    rows = await session.exec(
        select(Dialog.id, Assistant.name, Contact.name)
        .join(Assistant, col(Assistant.id) == col(Dialog.assistant_id))
        .join(Contact, col(Contact.id) == col(Dialog.contact_id))
        .where(col(Dialog.id).in_(dialog_ids))
    )
    who = {d_id: (a_name, c_name) for d_id, a_name, c_name in rows}
    out: list[MessageView] = []
    for m in messages:
        assert m.id is not None
        assistant_name, contact_name = who.get(m.dialog_id, ("", ""))
        if m.sender in ("operator", "note"):
            author = users.get(m.author_user_id or 0, "")
        elif m.sender == "ai":
            author = assistant_name
        elif m.sender == "visitor":
            author = contact_name
        else:
            author = ""
        out.append(MessageView(
            id=m.id,
            dialog_id=m.dialog_id,
            sender=cast(Sender, m.sender),  # only our code writes the column
            author_user_id=m.author_user_id,
            author_name=author,
            content=m.content,
            sources=list(m.sources or []),
            confidence=m.confidence,
            created_at=m.created_at,
            client_id=m.client_id,
        ))
    return out


async def message_view(session: AsyncSession, message: Message) -> MessageView:
    return (await message_views(session, [message]))[0]
