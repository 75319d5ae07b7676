"""Answers the AI still owes: a lease in PostgreSQL, so no stored question goes unanswered.

A widget answer is written by the web worker that stored the question, streaming to the
visitor as it goes. Before, that answer lived only in the worker's memory: a worker killed,
restarted or cut off from Redis or PostgreSQL mid-answer left the question unanswered for
good, and a resend of the same message was a duplicate that nobody answered either.

Now the question's transaction also writes a `pending_answers` row leased to the writing
worker, and the answer's transaction deletes it. The writer renews the lease while it
streams. A row whose lease ran out belongs to a worker that died or stalled: any live web
worker claims it (`claim_expired`, one row to one claimer through SKIP LOCKED) and
answers; so does the worker that receives the visitor's resend of the same message
(`claim_resend`). The answer's client id (`ai:<question id>`) keeps the answer single
should two workers ever race (a stalled one waking up late). A question that has been
tried `answer_max_attempts` times is handed to a person rather than tried forever.

Why a lease and not a timer ("no answer after N s"): a slow model is not a dead worker; the
holder renews while it is alive, so only a worker that really stopped loses the question.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.conversations.actors import ContactActor
from backend_services.conversations.sql import run
from backend_services.core.db import session_scope
from backend_services.core.settings import get_settings
from backend_services.models import Contact, Dialog, Message, PendingAnswer

log = logging.getLogger(__name__)

_holder: tuple[int, str] | None = None


def holder_id() -> str:
    """This process's name on the leases it holds (per pid: web workers may be forked)."""
    global _holder
    pid = os.getpid()
    if _holder is None or _holder[0] != pid:
        _holder = (pid, f"{socket.gethostname()[:32]}-{pid}-{uuid.uuid4().hex[:8]}")
    return _holder[1]


@dataclass(frozen=True)
class Owed:
    """A question this worker now holds the lease for and must answer."""

    question_id: int
    dialog_id: int
    actor: ContactActor
    attempts: int


def _changed(result: object) -> int:
    """Rows an UPDATE touched (the typed Result does not declare it)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _lease() -> timedelta:
    return timedelta(seconds=get_settings().answer_lease_seconds)


async def hold(session: AsyncSession, question: Message, holder: str) -> None:
    """Record, in the transaction storing `question`, that an answer is owed and who writes
    it."""
    assert question.id is not None
    session.add(PendingAnswer(
        question_id=question.id, workspace_id=question.workspace_id,
        dialog_id=question.dialog_id, holder=holder,
        lease_until=sa.func.now() + _lease(),  # type: ignore[arg-type]
    ))
    await session.flush()


async def settle(session: AsyncSession, question_id: int) -> None:
    """The answer is stored (in this transaction) or will never be written: nothing owed."""
    await run(session, sa.delete(PendingAnswer).where(
        col(PendingAnswer.question_id) == question_id))


async def drop(question_id: int) -> None:
    """No answer will come from the AI (a person was asked for, the visitor was told why)."""
    async with session_scope() as session:
        await settle(session, question_id)


async def renew(question_id: int, holder: str) -> bool:
    """Extend the holder's lease; False when the lease is no longer this holder's."""
    async with session_scope() as session:
        result = await run(session, sa.update(PendingAnswer).where(
            col(PendingAnswer.question_id) == question_id,
            col(PendingAnswer.holder) == holder,
        ).values(lease_until=sa.func.now() + _lease()))
        return _changed(result) > 0


async def release(holder: str) -> int:
    """A stopping worker hands its unfinished answers on at once instead of letting their
    leases run out."""
    async with session_scope() as session:
        result = await run(session, sa.update(PendingAnswer).where(
            col(PendingAnswer.holder) == holder,
        ).values(lease_until=sa.func.now(), holder=""))
        return _changed(result)


async def claim_resend(question_id: int, workspace_id: int, holder: str) -> bool:
    """The visitor sent an already stored question again: answer it here when its writer's
    lease ran out (the writer died); while the lease is live the writer's answer is on
    its way."""
    async with session_scope() as session:
        result = await run(session, sa.update(PendingAnswer).where(
            col(PendingAnswer.question_id) == question_id,
            col(PendingAnswer.workspace_id) == workspace_id,
            col(PendingAnswer.lease_until) < sa.func.now(),
        ).values(holder=holder, lease_until=sa.func.now() + _lease(),
                 attempts=PendingAnswer.attempts + 1))  # type: ignore[operator]
        return _changed(result) > 0


async def claim_expired(holder: str, limit: int) -> list[Owed]:
    """Take over up to `limit` questions whose writer's lease ran out, oldest first.

    Each row goes to one claimer (FOR UPDATE SKIP LOCKED); the lease is renewed for the new
    holder in the same statement.
    """
    if limit <= 0:
        return []
    expired = (
        select(col(PendingAnswer.question_id))
        .where(col(PendingAnswer.lease_until) < sa.func.now())
        .order_by(col(PendingAnswer.question_id))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    async with session_scope() as session:
        result = (await run(session, sa.update(PendingAnswer)
                          .where(col(PendingAnswer.question_id).in_(expired))
                          .values(holder=holder, lease_until=sa.func.now() + _lease(),
                                  attempts=PendingAnswer.attempts + 1)  # type: ignore[operator]
                          .returning(col(PendingAnswer.question_id),
                                     col(PendingAnswer.attempts))))
        rows = [(int(v[0]), int(v[1])) for v in (tuple(r) for r in result.all())]
        owed: list[Owed] = []
        for question_id, attempts in rows:
            found = (await session.exec(
                select(Dialog, Contact)
                .join(Message, col(Message.dialog_id) == col(Dialog.id))
                .join(Contact, col(Contact.id) == col(Dialog.contact_id))
                .where(col(Message.id) == question_id,
                       col(Contact.workspace_id) == col(Dialog.workspace_id))
            )).first()
            if found is None:
                continue
            dialog, contact = found
            assert dialog.id is not None and contact.id is not None
            owed.append(Owed(
                question_id=question_id, dialog_id=dialog.id, attempts=attempts,
                actor=ContactActor(
                    workspace_id=dialog.workspace_id, assistant_id=dialog.assistant_id,
                    contact_id=contact.id, channel_kind=contact.kind,
                    channel_id=dialog.channel_id, external_id=contact.external_id),
            ))
        return owed


async def owed_count(workspace_id: int | None = None) -> int:
    """How many answers are owed (health figures, tests)."""
    stmt = select(sa.func.count()).select_from(PendingAnswer)
    if workspace_id is not None:
        stmt = stmt.where(col(PendingAnswer.workspace_id) == workspace_id)
    async with session_scope() as session:
        return int((await session.exec(stmt)).one())
