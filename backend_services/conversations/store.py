"""Shared low-level steps of the conversation services (internal to this package).

Every step runs inside the caller's transaction: loading a dialog as a given actor (the
scoping rule lives here, once), appending a message, recording a state transition.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from backend_services.conversations.actors import ContactActor, Who
from backend_services.conversations.sql import run
from backend_services.conversations.views import DialogStatus, TransitionActor, preview
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Assistant, Dialog, HandoffEvent, Message, Role, User

MESSAGE_MAX_CHARS = 4000
CLIENT_ID_MAX = 64
NOT_FOUND = "Conversation not found."
# C0 controls other than tab and newlines; PostgreSQL refuses NUL in text outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def now() -> datetime:
    return datetime.now(UTC)


def clean_text(text: str, *, limit: int = MESSAGE_MAX_CHARS, what: str = "message") -> str:
    """Strip, drop control characters, refuse empty and over-long text. Stored verbatim
    otherwise: `<script>` stays the literal text it is, and every client shows it as text."""
    cleaned = _CONTROL.sub("", text or "").replace("\r\n", "\n").strip()
    if not cleaned:
        raise ValidationFailed(f"Write a {what} first.")
    if len(cleaned) > limit:
        raise ValidationFailed(f"The {what} is too long ({limit:,} characters at most).")
    return cleaned


def clean_client_id(client_id: str | None) -> str:
    """The sender's idempotency key; none given means every call is a new message."""
    if client_id is None or not client_id.strip():
        return uuid.uuid4().hex
    client_id = client_id.strip()
    if len(client_id) > CLIENT_ID_MAX:
        raise ValidationFailed("The message id is too long.")
    return client_id


def by_label(who: Who | None) -> str:
    if who is None:
        return "system"
    if isinstance(who, ContactActor):
        return "visitor"
    return f"user:{who.user_id}"


def _scoped(who: Who, dialog_id: int) -> SelectOfScalar[Dialog]:
    stmt = select(Dialog).where(col(Dialog.id) == dialog_id,
                                col(Dialog.workspace_id) == who.workspace_id)
    if isinstance(who, ContactActor):
        # A visitor sees only their own dialogs with this assistant.
        stmt = stmt.where(col(Dialog.assistant_id) == who.assistant_id,
                          col(Dialog.contact_id) == who.contact_id)
    else:
        who.require(Role.OPERATOR)
    return stmt


async def load(session: AsyncSession, who: Who, dialog_id: int, *, lock: bool = False) -> Dialog:
    """The dialog as `who` may see it; anything else (another tenant's, another visitor's)
    is simply not found. `lock` takes the row lock that serialises state changes."""
    stmt = _scoped(who, dialog_id)
    if lock:
        stmt = stmt.with_for_update()
    dialog = (await session.exec(stmt)).first()
    if dialog is None:
        raise NotFound(NOT_FOUND)
    return dialog


async def lock_by_id(session: AsyncSession, dialog_id: int, workspace_id: int) -> Dialog:
    """For system work (policy triggers, timeouts): scoped by the workspace it came from."""
    dialog = (await session.exec(
        select(Dialog)
        .where(col(Dialog.id) == dialog_id, col(Dialog.workspace_id) == workspace_id)
        .with_for_update()
    )).first()
    if dialog is None:
        raise NotFound(NOT_FOUND)
    return dialog


def can_handle(principal: Principal, dialog: Dialog) -> bool:
    """The assigned operator, or an admin of the workspace, may act on a taken dialog."""
    return dialog.assigned_user_id == principal.user_id or principal.has_role(Role.ADMIN)


def require_handler(principal: Principal, dialog: Dialog) -> None:
    if dialog.status == "active" and not can_handle(principal, dialog):
        raise PermissionDenied("Another operator is handling this conversation.")


async def user_name(session: AsyncSession, user_id: int | None) -> str:
    """How a teammate is named to others: their name, else the local part of the e-mail."""
    if user_id is None:
        return ""
    row = (await session.exec(select(User.name, User.email).where(col(User.id) == user_id))).first()
    if row is None:
        return ""
    name, email = row
    return name or email.split("@")[0]


async def language_of(session: AsyncSession, dialog: Dialog) -> str:
    lang = (await session.exec(
        select(Assistant.language).where(col(Assistant.id) == dialog.assistant_id)
    )).first()
    return lang or "en"


async def add_message(
    session: AsyncSession,
    dialog: Dialog,
    sender: str,
    content: str,
    *,
    author_user_id: int | None = None,
    client_id: str | None = None,
    **extra: Any,
) -> tuple[Message, bool]:
    """Append a message; returns (message, created). With a client id already used in this
    dialog, the stored message comes back with created=False (the unique constraint
    decides, so concurrent retries cannot both insert)."""
    assert dialog.id is not None
    await session.flush()  # the dialog's own pending changes go first
    stmt = insert(Message).values(
        workspace_id=dialog.workspace_id,
        dialog_id=dialog.id,
        sender=sender,
        author_user_id=author_user_id,
        content=content,
        client_id=client_id,
        **extra,
    )
    if client_id is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dialog_id", "client_id"])
    new_id = (await run(session, stmt.returning(col(Message.id)))).scalar_one_or_none()
    if new_id is None:
        existing = (await session.exec(
            select(Message).where(col(Message.dialog_id) == dialog.id,
                                  col(Message.client_id) == client_id)
        )).one()
        return existing, False
    message = await session.get(Message, new_id)
    assert message is not None
    values: dict[str, Any] = {"updated_at": sa.func.now()}
    if sender != "note":  # visitors receive dialog views: a note must not show in them
        # Concurrent senders may commit out of order: the newest message wins the preview.
        newer = sa.func.coalesce(col(Dialog.last_message_id), 0) < new_id
        values["last_message_id"] = sa.case((newer, new_id), else_=col(Dialog.last_message_id))
        if sender != "system":
            # The queue shows what people said ("Connecting you to a person…" is ours).
            values["last_message_preview"] = sa.case(
                (newer, preview(content)), else_=col(Dialog.last_message_preview))
    await run(session, sa.update(Dialog).where(col(Dialog.id) == dialog.id).values(**values))
    await session.refresh(dialog)
    return message, True


def transition(
    session: AsyncSession,
    dialog: Dialog,
    to_state: DialogStatus,
    *,
    actor: TransitionActor,
    reason: str,
    user_id: int | None = None,
) -> None:
    """Move the (locked) dialog and record who moved it and why, in the same transaction."""
    assert dialog.id is not None
    session.add(HandoffEvent(
        workspace_id=dialog.workspace_id,
        dialog_id=dialog.id,
        from_state=dialog.status,
        to_state=to_state,
        actor_user_id=user_id,
        actor=actor,
        reason=reason[:300],
    ))
    dialog.status = to_state
    dialog.updated_at = now()
    session.add(dialog)
