"""Dialogs and messages, channel-agnostic: the widget, Telegram and the console all come
through here.

A message is committed before anyone is told (the dialog event is published after the
transaction), and a sender's retry never makes a second row: the client id is unique per
dialog and the insert is `ON CONFLICT DO NOTHING`, so even concurrent retries end with one
row. Visitors reach only their own dialogs with their assistant and never see notes;
operators reach only their workspace's dialogs. Text is stored as sent (stripped): nothing
here renders HTML and nothing downstream may.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.conversations import email_thread, handoff, pending_answers, store
from backend_services.conversations.actors import ContactActor, Who
from backend_services.conversations.events import publish_dialog_changed
from backend_services.conversations.sql import run
from backend_services.conversations.texts import text as fixed_text
from backend_services.conversations.views import (
    STATUSES,
    DialogView,
    MessageView,
    PostedMessage,
    dialog_view,
    dialog_views,
    message_view,
    message_views,
)
from backend_services.core import notify
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.redis_client import get_redis
from backend_services.models import Contact, Dialog, Message, Role
from backend_services.models.conversations import DialogRead

HISTORY_MAX = 200
SEARCH_MAX = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


# ------------------------------------------------------------------------------ visitors


async def _open(session: AsyncSession, actor: ContactActor) -> Dialog:
    """The contact's open dialog with this assistant, created if there is none. The partial
    unique index (one open dialog per contact and assistant) settles concurrent first
    messages: the loser's insert does nothing and it reads the winner's row."""
    # Locked, so a close or take-over running now is either already visible (a closed
    # dialog is skipped and a new one opened) or waits for this message.
    existing = await _current(session, actor, lock=True)
    if existing is not None:
        return existing
    stmt = insert(Dialog).values(
        workspace_id=actor.workspace_id,
        assistant_id=actor.assistant_id,
        channel_id=actor.channel_id,
        contact_id=actor.contact_id,
        status="ai",
        updated_at=store.now(),
    ).on_conflict_do_nothing(
        index_elements=["contact_id", "assistant_id"],
        index_where=sa.text("status <> 'closed'"),
    ).returning(col(Dialog.id))
    new_id = (await run(session, stmt)).scalar_one_or_none()
    dialog = await _current(session, actor, lock=True) if new_id is None else await session.get(
        Dialog, new_id)
    assert dialog is not None
    return dialog


async def _current(
    session: AsyncSession, actor: ContactActor, *, lock: bool = False
) -> Dialog | None:
    stmt = select(Dialog).where(col(Dialog.workspace_id) == actor.workspace_id,
                                col(Dialog.assistant_id) == actor.assistant_id,
                                col(Dialog.contact_id) == actor.contact_id,
                                col(Dialog.status) != "closed")
    return (await session.exec(stmt.with_for_update() if lock else stmt)).first()


async def current_dialog(actor: ContactActor) -> DialogView | None:
    """The visitor's open dialog with this assistant, if any."""
    async with session_scope() as session:
        dialog = await _current(session, actor)
        return await dialog_view(session, dialog) if dialog else None


async def open_dialog(actor: ContactActor) -> DialogView:
    async with session_scope() as session:
        return await dialog_view(session, await _open(session, actor))


async def visitor_message(
    actor: ContactActor, text: str, client_id: str | None, *, answer_holder: str = ""
) -> PostedMessage:
    """Store the visitor's message in their open dialog (opening one if needed).

    Committed before returning. The same client id in the same dialog returns the stored
    message with duplicate=True and publishes nothing. With `answer_holder`, a new
    message in a dialog the AI has also records, in the same transaction, that an answer
    is owed and that this holder writes it (pending_answers).
    """
    content = store.clean_text(text)
    cid = store.clean_client_id(client_id)
    async with session_scope() as session:
        dialog = await _open(session, actor)
        message, created = await store.add_message(session, dialog, "visitor", content,
                                                   client_id=cid)
        if created and answer_holder and dialog.status == "ai":
            await pending_answers.hold(session, message, answer_holder)
        dview = await dialog_view(session, dialog)
        mview = await message_view(session, message)
    if created:
        await publish_dialog_changed(dview.workspace_id, dview.id, dview.status,
                                     message_id=mview.id, kind="message", by="visitor")
    return PostedMessage(dview, mview, duplicate=not created)


async def history(
    who: Who, dialog_id: int, *, before_id: int | None = None, limit: int = 50
) -> list[MessageView]:
    """Messages oldest -> newest (the `limit` newest before `before_id`). Visitors never
    get notes."""
    limit = max(1, min(limit, HISTORY_MAX))
    async with session_scope() as session:
        dialog = await store.load(session, who, dialog_id)
        stmt = select(Message).where(col(Message.dialog_id) == dialog.id)
        if isinstance(who, ContactActor):
            stmt = stmt.where(col(Message.sender) != "note")
        if before_id is not None:
            stmt = stmt.where(col(Message.id) < before_id)
        rows = list(await session.exec(stmt.order_by(col(Message.id).desc()).limit(limit)))
        rows.reverse()
        return await message_views(session, rows)


async def rate(actor: ContactActor, dialog_id: int, score: int) -> DialogView:
    """The visitor's 1-5 rating, against a human if one took part, else the AI. Rating
    again replaces the score."""
    if not isinstance(score, int) or not 1 <= score <= 5:
        raise ValidationFailed("Choose a rating from 1 to 5.")
    async with session_scope() as session:
        dialog = await store.load(session, actor, dialog_id, lock=True)
        dialog.rating = score
        dialog.rated_handler = "human" if dialog.accepted_at is not None else "ai"
        dialog.rated_at = store.now()
        dialog.updated_at = store.now()  # a rating is news: the inbox and analytics see it
        session.add(dialog)
        await session.flush()
        view = await dialog_view(session, dialog)
    await publish_dialog_changed(view.workspace_id, view.id, view.status, kind="rating",
                                 by="visitor")
    return view


async def leave_contact(actor: ContactActor, dialog_id: int, name: str, email: str) -> DialogView:
    """The offline flow: the visitor leaves a name and an e-mail for a person to reply to."""
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValidationFailed("Enter a valid e-mail address.")
    name = " ".join(name.split())
    if len(name) > 200:
        raise ValidationFailed("The name is too long (200 characters at most).")
    async with session_scope() as session:
        dialog = await store.load(session, actor, dialog_id, lock=True)
        if dialog.status == "closed":
            raise Conflict(handoff.CLOSED)
        contact = await session.get(Contact, dialog.contact_id)
        assert contact is not None
        contact.email = email
        if name:
            contact.name = name
        session.add(contact)
        dialog.awaiting_contact = False
        dialog.email_thread = True  # answers go to that address, and its replies come here
        session.add(dialog)
        language = await store.language_of(session, dialog)
        message, _ = await store.add_message(
            session, dialog, "system", fixed_text(language, "contact_thanks", email=email))
        await notify.request(session, dialog.workspace_id, "contact",
                             f"contact:{dialog.id}:{email}", dialog_id=dialog.id)
        view = await dialog_view(session, dialog)
    await publish_dialog_changed(view.workspace_id, view.id, view.status,
                                 message_id=message.id, kind="contact", by="visitor")
    return view


async def close(who: Who, dialog_id: int, reason: str = "") -> DialogView:
    """End the conversation; see `handoff.close`."""
    return await handoff.close(who, dialog_id, reason)


TYPING_EVERY_MS = 1500


async def typing(who: Who, dialog_id: int) -> bool:
    """Tell the other side someone is typing. Nothing is stored; at most one event per
    typist and dialog every 1.5 s goes out, however often a client calls. Returns whether
    one did."""
    async with session_scope() as session:
        dialog = await store.load(session, who, dialog_id)
        workspace_id, status = dialog.workspace_id, dialog.status
    by = store.by_label(who)
    if not await get_redis().set(f"replyx:typing:{dialog_id}:{by}", "1", nx=True,
                                 px=TYPING_EVERY_MS):
        return False
    await publish_dialog_changed(workspace_id, dialog_id, status, kind="typing", by=by)
    return True


# ------------------------------------------------------------------------------ operators


async def get_dialog(principal: Principal, dialog_id: int) -> DialogView:
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id)
        return await dialog_view(session, dialog, for_user=principal.user_id)


async def _mark(session: AsyncSession, dialog: Dialog, user_id: int, message_id: int) -> None:
    assert dialog.id is not None
    stmt = insert(DialogRead).values(workspace_id=dialog.workspace_id, dialog_id=dialog.id,
                                     user_id=user_id, last_read_message_id=message_id)
    await run(session, stmt.on_conflict_do_update(
        index_elements=["dialog_id", "user_id"],
        set_={"last_read_message_id": sa.func.greatest(
            col(DialogRead.last_read_message_id), stmt.excluded.last_read_message_id)},
    ))


async def operator_reply(
    principal: Principal, dialog_id: int, text: str, client_id: str | None
) -> MessageView:
    """A reply from the operator who has the dialog. A retry with the same client id
    returns the stored reply."""
    principal.require(Role.OPERATOR)
    content = store.clean_text(text, what="reply")
    cid = store.clean_client_id(client_id)
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id, lock=True)
        stored = (await session.exec(
            select(Message).where(col(Message.dialog_id) == dialog.id,
                                  col(Message.client_id) == cid)
        )).first()
        if stored is not None:
            return await message_view(session, stored)
        if dialog.status == "closed":
            raise Conflict(handoff.CLOSED)
        if dialog.status != "active":
            raise Conflict("Take over the conversation before replying.")
        if dialog.assigned_user_id != principal.user_id:
            holder = await store.user_name(session, dialog.assigned_user_id)
            raise Conflict(f"{holder or 'Another operator'} is handling this conversation.")
        message, _ = await store.add_message(session, dialog, "operator", content,
                                             author_user_id=principal.user_id, client_id=cid)
        if dialog.first_human_reply_at is None:
            dialog.first_human_reply_at = message.created_at
            if dialog.handoff_requested_at is not None:
                waited = message.created_at - dialog.handoff_requested_at
                dialog.first_reply_seconds = max(0, int(waited.total_seconds()))
            session.add(dialog)
        assert message.id is not None
        if dialog.email_thread:
            contact = await session.get(Contact, dialog.contact_id)
            if contact is not None and contact.email:
                await email_thread.queue_reply(session, dialog, message.id, contact.email)
        await _mark(session, dialog, principal.user_id, message.id)
        view = await message_view(session, message)
        status = dialog.status
    await publish_dialog_changed(principal.workspace_id, dialog_id, status,
                                 message_id=view.id, kind="message",
                                 by=store.by_label(principal))
    return view


async def add_note(
    principal: Principal, dialog_id: int, text: str, client_id: str | None = None
) -> MessageView:
    """An internal note: any operator of the workspace, never shown to the visitor."""
    principal.require(Role.OPERATOR)
    content = store.clean_text(text, what="note")
    cid = store.clean_client_id(client_id)
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id)
        message, created = await store.add_message(session, dialog, "note", content,
                                                   author_user_id=principal.user_id,
                                                   client_id=cid)
        view = await message_view(session, message)
        status = dialog.status
    if created:
        await publish_dialog_changed(principal.workspace_id, dialog_id, status,
                                     message_id=view.id, kind="note",
                                     by=store.by_label(principal))
    return view


async def mark_read(principal: Principal, dialog_id: int, message_id: int) -> None:
    """The operator has read the dialog up to `message_id` (marks never move back)."""
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id)
        newest = (await session.exec(
            select(sa.func.max(col(Message.id))).where(col(Message.dialog_id) == dialog.id)
        )).one()
        upto = min(int(message_id), int(newest or 0))
        if upto <= 0:
            return
        await _mark(session, dialog, principal.user_id, upto)
        status = dialog.status
    await publish_dialog_changed(principal.workspace_id, dialog_id, status, message_id=upto,
                                 kind="read", by=store.by_label(principal))


async def unread_counts(principal: Principal) -> dict[int, int]:
    """Unread visitor messages per dialog that needs this operator: the queue and their own
    open dialogs (AI-handled dialogs are not counted; nobody has to read them)."""
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        read = sa.func.coalesce(col(DialogRead.last_read_message_id), 0)
        rows = await session.exec(
            select(col(Message.dialog_id), sa.func.count())
            .select_from(Message)
            .join(Dialog, col(Dialog.id) == col(Message.dialog_id))
            .outerjoin(DialogRead, sa.and_(col(DialogRead.dialog_id) == col(Message.dialog_id),
                                           col(DialogRead.user_id) == principal.user_id))
            .where(col(Dialog.workspace_id) == principal.workspace_id,
                   sa.or_(col(Dialog.status) == "requested",
                          sa.and_(col(Dialog.status) == "active",
                                  col(Dialog.assigned_user_id) == principal.user_id)),
                   col(Message.sender) == "visitor", col(Message.id) > read)
            .group_by(col(Message.dialog_id))
        )
        return {int(d): int(n) for d, n in rows}


@dataclass(frozen=True)
class DialogFilter:
    """scope: "queue" (waiting for a human, oldest first), "mine" (assigned to me, not
    closed), "all". Dates are inclusive days (a date) or exact moments (a datetime)."""

    scope: str = "all"
    status: str | None = None
    channel_kind: str | None = None
    assistant_id: int | None = None
    date_from: date | datetime | None = None
    date_to: date | datetime | None = None
    text: str = ""


def _moment(value: date | datetime, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    start = datetime.combine(value, time.min, tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    principal: Principal, filters: DialogFilter | None = None, limit: int = 50, offset: int = 0
) -> list[DialogView]:
    principal.require(Role.OPERATOR)
    f = filters or DialogFilter()
    if f.scope not in ("queue", "mine", "all"):
        raise ValidationFailed("Unknown list.")
    if f.status is not None and f.status not in STATUSES:
        raise ValidationFailed("Unknown status.")
    limit = max(1, min(limit, SEARCH_MAX))
    stmt = select(Dialog).where(col(Dialog.workspace_id) == principal.workspace_id)
    if f.scope == "queue":
        stmt = stmt.where(col(Dialog.status) == "requested").order_by(
            col(Dialog.handoff_requested_at).asc().nulls_last(), col(Dialog.id))
    else:
        if f.scope == "mine":
            stmt = stmt.where(col(Dialog.assigned_user_id) == principal.user_id,
                              col(Dialog.status) != "closed")
        stmt = stmt.order_by(sa.func.coalesce(col(Dialog.updated_at),
                                              col(Dialog.created_at)).desc(),
                             col(Dialog.id).desc())
    if f.status:
        stmt = stmt.where(col(Dialog.status) == f.status)
    if f.assistant_id is not None:
        stmt = stmt.where(col(Dialog.assistant_id) == f.assistant_id)
    if f.date_from is not None:
        stmt = stmt.where(col(Dialog.created_at) >= _moment(f.date_from, end=False))
    if f.date_to is not None:
        stmt = stmt.where(col(Dialog.created_at) < _moment(f.date_to, end=True)
                          if not isinstance(f.date_to, datetime)
                          else col(Dialog.created_at) <= _moment(f.date_to, end=True))
    needle = " ".join(f.text.split())[:200]
    if f.channel_kind or needle:
        stmt = stmt.join(Contact, col(Contact.id) == col(Dialog.contact_id))
    if f.channel_kind:
        stmt = stmt.where(col(Contact.kind) == f.channel_kind)
    if needle:
        pattern = _like(needle)
        in_messages = (
            select(col(Message.id))
            .where(col(Message.dialog_id) == col(Dialog.id),
                   col(Message.content).ilike(pattern, escape="\\"))
            .exists()
        )
        matches = [in_messages, col(Contact.name).ilike(pattern, escape="\\"),
                   col(Contact.email).ilike(pattern, escape="\\")]
        if needle.lstrip("#").isdigit() and len(needle.lstrip("#")) <= 9:
            matches.append(col(Dialog.id) == int(needle.lstrip("#")))
        stmt = stmt.where(sa.or_(*matches))
    async with session_scope() as session:
        rows = list(await session.exec(stmt.offset(max(0, offset)).limit(limit)))
        return await dialog_views(session, rows, for_user=principal.user_id)
