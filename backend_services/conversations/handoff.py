"""Handing a conversation between the AI and humans: request, accept, transfer, release,
close, the no-operator timeout, and the SLA figures.

States: `ai` (the AI answers) -> `requested` (waiting for a human) -> `active` (a human has
it) -> back to `ai` (released) or `closed`. A closed dialog is never reopened.

Each use case is one transaction that locks the dialog row (`SELECT ... FOR UPDATE`)
before looking at its state, so concurrent callers are serialised and each sees the
other's result: of two operators accepting at once, exactly one wins and the other is
told who. Every change of state writes a `handoff_events` row (from, to, who, why) and,
where the visitor should know, a `system` message, in the same transaction; the dialog
event is published only after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.conversations import store
from backend_services.conversations.actors import ContactActor, Who
from backend_services.conversations.events import ChangeKind, publish_dialog_changed
from backend_services.conversations.policy import is_open, load_policy
from backend_services.conversations.texts import text
from backend_services.conversations.views import (
    DialogStatus,
    DialogView,
    MessageView,
    TransitionActor,
    dialog_view,
    message_view,
)
from backend_services.core import notify
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound, PermissionDenied
from backend_services.core.principal import Principal
from backend_services.models import Dialog, HandoffEvent, Membership, Role

RequestedBy = Literal["visitor", "system", "operator"]
Outcome = Literal["queued", "already", "offline", "stay_ai", "disabled"]
CLOSED = "This conversation is closed."
# expire_waiting looks at no more than this many waiting dialogs per run (oldest first).
EXPIRE_BATCH = 500


class AlreadyTaken(Conflict):
    """Another operator has the dialog; the message names them."""

    def __init__(self, holder_user_id: int | None, holder_name: str) -> None:
        who = holder_name or "Another operator"
        super().__init__(f"{who} is already handling this conversation.")
        self.holder_user_id = holder_user_id
        self.holder_name = holder_name


@dataclass(frozen=True)
class HandoffResult:
    """What a request for a human led to.

    outcome: "queued" (waiting for an operator), "already" (waiting or taken before),
    "offline" (outside business hours: queued with the offline message, the visitor is
    asked for a contact), "stay_ai" (outside hours and the policy keeps the AI on),
    "disabled" (handoff is switched off for this assistant).
    """

    outcome: Outcome
    dialog: DialogView
    message: MessageView | None  # the system message the visitor saw, if any
    reason: str


@dataclass(frozen=True)
class SlaSummary:
    handled: int  # dialogs a human took over since `since`
    median_first_reply_seconds: float | None  # request -> first human reply
    p90_first_reply_seconds: float | None
    waiting_now: int  # dialogs in the queue right now


async def _announce(
    session: AsyncSession, dialog: Dialog, key: str, **values: str
) -> MessageView:
    language = await store.language_of(session, dialog)
    message, _ = await store.add_message(session, dialog, "system", text(language, key, **values))
    return await message_view(session, message)


async def _publish(
    view: DialogView, message: MessageView | None, by: str, kind: ChangeKind = "status"
) -> None:
    await publish_dialog_changed(view.workspace_id, view.id, view.status,
                                 message_id=message.id if message else None, kind=kind, by=by)


# ------------------------------------------------------------------------------ request


async def request(
    dialog_id: int,
    workspace_id: int,
    *,
    reason: str,
    by: RequestedBy,
    user_id: int | None = None,
    now: datetime | None = None,
    required: bool = False,
) -> HandoffResult:
    """Ask for a human: ai -> requested, unless the policy says otherwise.

    Callers have already checked that whoever asks may see the dialog (the workspace id
    comes from a verified actor or principal). Outside business hours the policy's
    `on_timeout` decides at once: queue it with the offline message and ask for a contact,
    or keep the AI on. System triggers outside hours with the AI kept on stay silent, so a
    string of unsure answers does not repeat "nobody is available".

    `required`: the AI cannot go on (the balance is spent), so the dialog goes to people
    even where the policy would keep it with the AI (handoff off, or "stay with the AI"
    outside hours: then the offline message and the contact form).
    """
    moment = now or store.now()
    actor: TransitionActor = ("visitor" if by == "visitor"
                              else "user" if by == "operator" else "system")
    message: MessageView | None = None
    async with session_scope() as session:
        dialog = await store.lock_by_id(session, dialog_id, workspace_id)
        if dialog.status in ("requested", "active"):
            return HandoffResult("already", await dialog_view(session, dialog), None, reason)
        if dialog.status == "closed":
            raise Conflict(CLOSED)
        policy = await load_policy(session, workspace_id, dialog.assistant_id)
        outcome: Outcome
        if not policy.enabled and not required:
            outcome = "disabled"
            if by == "visitor":
                message = await _announce(session, dialog, "disabled")
        elif not is_open(policy.business_hours, moment):
            reason = f"outside business hours; {reason}"
            if policy.on_timeout == "offline_message" or required:
                outcome = "offline"
                store.transition(session, dialog, "requested", actor=actor, reason=reason,
                                 user_id=user_id)
                dialog.handoff_requested_at = moment
                dialog.handoff_reason = reason[:300]
                dialog.wait_expired_at = moment  # already told: the timeout must not fire
                dialog.awaiting_contact = True
                language = await store.language_of(session, dialog)
                stored, _ = await store.add_message(session, dialog, "system",
                                                    policy.offline_message(language))
                message = await message_view(session, stored)
            else:
                outcome = "stay_ai"
                if by == "visitor":
                    store.transition(session, dialog, "ai", actor=actor, reason=reason,
                                     user_id=user_id)
                    message = await _announce(session, dialog, "back_to_ai")
        else:
            outcome = "queued"
            store.transition(session, dialog, "requested", actor=actor, reason=reason,
                             user_id=user_id)
            dialog.handoff_requested_at = moment
            dialog.handoff_reason = reason[:300]
            dialog.wait_expired_at = None
            dialog.awaiting_contact = False
            message = await _announce(session, dialog, "connecting")
        session.add(dialog)
        await session.flush()
        if outcome in ("queued", "offline"):
            # Whoever should hear of it does, once per wait (notifications, jobs).
            await notify.request(session, workspace_id, "waiting",
                                 f"waiting:{dialog.id}:{moment.timestamp():.0f}",
                                 dialog_id=dialog.id, reason=reason[:300])
        view = await dialog_view(session, dialog)
    if message is not None or outcome in ("queued", "offline"):
        await _publish(view, message, by if by != "operator" else f"user:{user_id}")
    return HandoffResult(outcome, view, message, reason)


# ------------------------------------------------------------------------------ operators


async def accept(principal: Principal, dialog_id: int) -> DialogView:
    """Take the dialog: from the queue, or straight from the AI (a proactive take-over)."""
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id, lock=True)
        if dialog.status == "active":
            if dialog.assigned_user_id == principal.user_id:
                return await dialog_view(session, dialog, for_user=principal.user_id)
            raise AlreadyTaken(dialog.assigned_user_id,
                               await store.user_name(session, dialog.assigned_user_id))
        if dialog.status == "closed":
            raise Conflict(CLOSED)
        if dialog.status == "requested":
            reason = "taken from the queue"
        else:
            reason = "taken over from the AI"
            # Nobody asked: there is no wait to measure a first reply against.
            dialog.handoff_requested_at = None
            dialog.handoff_reason = reason
        store.transition(session, dialog, "active", actor="user", reason=reason,
                         user_id=principal.user_id)
        dialog.assigned_user_id = principal.user_id
        dialog.accepted_at = store.now()
        dialog.awaiting_contact = False
        dialog.wait_expired_at = None
        session.add(dialog)
        name = await store.user_name(session, principal.user_id)
        message = await (_announce(session, dialog, "joined", name=name) if name
                         else _announce(session, dialog, "joined_anon"))
        view = await dialog_view(session, dialog, for_user=principal.user_id)
    await _publish(view, message, store.by_label(principal))
    return view


async def transfer(principal: Principal, dialog_id: int, to_user_id: int) -> DialogView:
    """Hand a waiting or taken dialog to a teammate (an operator of this workspace)."""
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id, lock=True)
        if dialog.status not in ("requested", "active"):
            raise Conflict("Only a conversation waiting for or handled by a person can be "
                           "transferred.")
        if dialog.status == "active" and not store.can_handle(principal, dialog):
            raise PermissionDenied("Only the operator handling this conversation (or an "
                                   "admin) can transfer it.")
        member = (await session.exec(
            select(Membership).where(col(Membership.workspace_id) == principal.workspace_id,
                                     col(Membership.user_id) == to_user_id)
        )).first()
        if member is None:
            raise NotFound("That teammate is not in this workspace.")
        name = await store.user_name(session, to_user_id)
        if dialog.status == "active" and dialog.assigned_user_id == to_user_id:
            raise Conflict(f"{name or 'That teammate'} already has this conversation.")
        store.transition(session, dialog, "active", actor="user",
                         reason=f"transferred to {name or to_user_id}",
                         user_id=principal.user_id)
        dialog.assigned_user_id = to_user_id
        dialog.accepted_at = store.now()
        dialog.awaiting_contact = False
        dialog.wait_expired_at = None
        session.add(dialog)
        message = await (_announce(session, dialog, "transferred", name=name) if name
                         else _announce(session, dialog, "transferred_anon"))
        view = await dialog_view(session, dialog, for_user=principal.user_id)
    await _publish(view, message, store.by_label(principal))
    return view


async def release(principal: Principal, dialog_id: int) -> DialogView:
    """Hand the dialog back to the AI (from a human, or out of the queue)."""
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id, lock=True)
        if dialog.status == "active":
            if not store.can_handle(principal, dialog):
                raise PermissionDenied("Only the operator handling this conversation (or an "
                                       "admin) can hand it back to the AI.")
        elif dialog.status == "requested":
            pass  # any operator may send a waiting visitor back to the AI
        elif dialog.status == "closed":
            raise Conflict(CLOSED)
        else:
            raise Conflict("The AI is already handling this conversation.")
        store.transition(session, dialog, "ai", actor="user", reason="handed back to the AI",
                         user_id=principal.user_id)
        dialog.assigned_user_id = None
        dialog.failed_in_row = 0
        dialog.awaiting_contact = False
        dialog.wait_expired_at = None
        session.add(dialog)
        message = await _announce(session, dialog, "left")
        view = await dialog_view(session, dialog, for_user=principal.user_id)
    await _publish(view, message, store.by_label(principal))
    return view


async def close(who: Who, dialog_id: int, reason: str = "") -> DialogView:
    """End the conversation (the visitor, or an operator who may act on it).

    Closing twice is not an error. The visitor's next message starts a new dialog.
    """
    async with session_scope() as session:
        dialog = await store.load(session, who, dialog_id, lock=True)
        for_user = None if isinstance(who, ContactActor) else who.user_id
        if dialog.status == "closed":
            return await dialog_view(session, dialog, for_user=for_user)
        actor: TransitionActor
        if isinstance(who, Principal):
            store.require_handler(who, dialog)
            actor, user_id = "user", who.user_id
            default_reason = "closed by an operator"
        else:
            actor, user_id = "visitor", None
            default_reason = "closed by the visitor"
        store.transition(session, dialog, "closed", actor=actor,
                         reason=reason.strip() or default_reason, user_id=user_id)
        dialog.closed_at = store.now()
        dialog.awaiting_contact = False
        session.add(dialog)
        message = await _announce(session, dialog, "closed")
        view = await dialog_view(session, dialog, for_user=for_user)
    await _publish(view, message, store.by_label(who))
    return view


# ------------------------------------------------------------------------------ timeout


async def _expire_one(dialog_id: int, workspace_id: int, moment: datetime) -> bool:
    message: MessageView | None = None
    async with session_scope() as session:
        dialog = await store.lock_by_id(session, dialog_id, workspace_id)
        if (dialog.status != "requested" or dialog.wait_expired_at is not None
                or dialog.handoff_requested_at is None):
            return False  # accepted, released or expired since the candidates were read
        policy = await load_policy(session, workspace_id, dialog.assistant_id)
        limit = timedelta(minutes=policy.accept_timeout_minutes)
        if dialog.handoff_requested_at + limit > moment:
            return False
        reason = f"nobody accepted within {policy.accept_timeout_minutes} min"
        await notify.request(
            session, workspace_id, "sla",
            f"sla:{dialog.id}:{dialog.handoff_requested_at.timestamp():.0f}",
            dialog_id=dialog.id, minutes=policy.accept_timeout_minutes)
        if policy.on_timeout == "back_to_ai":
            store.transition(session, dialog, "ai", actor="system", reason=reason)
            dialog.assigned_user_id = None
            dialog.failed_in_row = 0
            dialog.wait_expired_at = moment
            session.add(dialog)
            message = await _announce(session, dialog, "back_to_ai")
        else:
            # Stays in the queue so a person can follow up; the visitor leaves a contact.
            store.transition(session, dialog, "requested", actor="system",
                             reason=f"{reason}; offline message sent")
            dialog.wait_expired_at = moment
            dialog.awaiting_contact = True
            session.add(dialog)
            language = await store.language_of(session, dialog)
            stored, _ = await store.add_message(session, dialog, "system",
                                                policy.offline_message(language))
            message = await message_view(session, stored)
        view = await dialog_view(session, dialog)
    await _publish(view, message, "system")
    return True


async def expire_waiting(now: datetime | None = None) -> int:
    """Apply each assistant's no-operator timeout to dialogs waiting too long; returns how
    many were expired. Safe to run from several workers at once (each dialog is locked and
    re-checked; an expired wait is marked so it fires once)."""
    moment = now or store.now()
    async with session_scope() as session:
        rows = await session.exec(
            select(Dialog.id, Dialog.workspace_id)
            .where(col(Dialog.status) == "requested", col(Dialog.wait_expired_at).is_(None),
                   col(Dialog.handoff_requested_at) <= moment - timedelta(minutes=1))
            .order_by(col(Dialog.handoff_requested_at))
            .limit(EXPIRE_BATCH)
        )
        candidates = [(int(d or 0), int(w)) for d, w in rows]
    expired = 0
    for dialog_id, workspace_id in candidates:
        if await _expire_one(dialog_id, workspace_id, moment):
            expired += 1
    return expired


# ------------------------------------------------------------------------------ SLA


async def sla_summary(principal: Principal, since: datetime) -> SlaSummary:
    """Time to first human reply, measured from the visitor's request, for dialogs whose
    first reply came after `since`; take-overs without a request are not measured."""
    principal.require(Role.OPERATOR)
    ws = principal.workspace_id
    async with session_scope() as session:
        handled = (await session.exec(
            select(sa.func.count(sa.distinct(col(HandoffEvent.dialog_id))))
            .where(col(HandoffEvent.workspace_id) == ws, col(HandoffEvent.to_state) == "active",
                   col(HandoffEvent.from_state) != "active",
                   col(HandoffEvent.created_at) >= since)
        )).one()
        seconds = col(Dialog.first_reply_seconds)
        median, p90 = (await session.exec(
            select(sa.func.percentile_cont(0.5).within_group(seconds),
                   sa.func.percentile_cont(0.9).within_group(seconds))
            .where(col(Dialog.workspace_id) == ws, seconds.is_not(None),
                   col(Dialog.first_human_reply_at) >= since)
        )).one()
        waiting = (await session.exec(
            select(sa.func.count()).select_from(Dialog)
            .where(col(Dialog.workspace_id) == ws, col(Dialog.status) == "requested")
        )).one()
    return SlaSummary(
        handled=int(handled),
        median_first_reply_seconds=float(median) if median is not None else None,
        p90_first_reply_seconds=float(p90) if p90 is not None else None,
        waiting_now=int(waiting),
    )


@dataclass(frozen=True)
class TransitionView:
    from_state: str  # "" for the first transition, else a DialogStatus
    to_state: DialogStatus
    actor: TransitionActor
    actor_user_id: int | None
    actor_name: str
    reason: str
    created_at: datetime


async def transitions(principal: Principal, dialog_id: int) -> list[TransitionView]:
    """The dialog's recorded transitions, oldest first (the console's timeline)."""
    async with session_scope() as session:
        dialog = await store.load(session, principal, dialog_id)
        rows = list(await session.exec(
            select(HandoffEvent).where(col(HandoffEvent.dialog_id) == dialog.id)
            .order_by(col(HandoffEvent.id))
        ))
        names = {uid: await store.user_name(session, uid)
                 for uid in {r.actor_user_id for r in rows if r.actor_user_id}}
        return [
            # Only our code writes these columns (store.transition).
            TransitionView(r.from_state, cast(DialogStatus, r.to_state),
                           cast(TransitionActor, r.actor), r.actor_user_id,
                           names.get(r.actor_user_id or 0, ""), r.reason, r.created_at)
            for r in rows
        ]
