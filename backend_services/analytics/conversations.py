"""How a workspace's conversations went over a period: how many, and messages, per day;
how many the AI handled alone and how many went to a person, and why; satisfaction rated
against the AI and against people, separately.

Read from the conversation tables (dialogs, messages, handoff events, contacts), scoped
to the principal's workspace, optionally to one assistant and one channel. A dialog
belongs to the period it was started in; its messages to the days they were written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.conversations.actors import CHANNEL_KINDS
from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Contact, Dialog, HandoffEvent, Message, Role

MAX_DAYS = 366
TOP_REASONS = 10


@dataclass(frozen=True)
class Filters:
    since: date
    until: date  # inclusive
    assistant_id: int | None = None
    channel: str = ""  # "", widget, telegram

    def clean(self) -> Filters:
        if self.since > self.until:
            raise ValidationFailed("The start date is after the end date.")
        if (self.until - self.since).days >= MAX_DAYS:
            raise ValidationFailed(f"Choose at most {MAX_DAYS} days.")
        if self.channel and self.channel not in CHANNEL_KINDS:
            raise ValidationFailed("Unknown channel.")
        return self

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), UTC)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(), UTC)


@dataclass(frozen=True)
class Day:
    day: str  # ISO date
    conversations: int
    messages: int


@dataclass(frozen=True)
class Satisfaction:
    count: int
    average: float | None
    distribution: tuple[int, int, int, int, int]  # how many 1, 2, 3, 4, 5 stars


@dataclass(frozen=True)
class Summary:
    conversations: int
    messages: int
    ai_only: int  # never handed to a person
    handed_over: int
    reasons: list[tuple[str, int]]  # why conversations went to a person, most common first
    rated_ai: Satisfaction
    rated_human: Satisfaction
    days: list[Day]


def _dialogs(principal: Principal, f: Filters) -> sa.Select[tuple[int]]:
    query = select(col(Dialog.id)).where(col(Dialog.workspace_id) == principal.workspace_id,
                                         col(Dialog.created_at) >= f.start,
                                         col(Dialog.created_at) < f.end)
    if f.assistant_id is not None:
        query = query.where(col(Dialog.assistant_id) == f.assistant_id)
    if f.channel:
        query = query.join(Contact, col(Contact.id) == col(Dialog.contact_id)).where(
            col(Contact.kind) == f.channel)
    return query  # type: ignore[return-value]


def _satisfaction(rows: dict[int, int]) -> Satisfaction:
    count = sum(rows.values())
    total = sum(stars * n for stars, n in rows.items())
    return Satisfaction(count, round(total / count, 2) if count else None,
                        (rows.get(1, 0), rows.get(2, 0), rows.get(3, 0), rows.get(4, 0),
                         rows.get(5, 0)))


async def summary(principal: Principal, filters: Filters) -> Summary:
    principal.require(Role.ADMIN)
    f = filters.clean()
    ids = _dialogs(principal, f).subquery()
    in_period = col(Dialog.id).in_(select(ids.c.id))
    handed = sa.exists().where(col(HandoffEvent.dialog_id) == col(Dialog.id),
                               col(HandoffEvent.to_state).in_(("requested", "active")))
    day = sa.func.date(sa.func.timezone("UTC", col(Dialog.created_at)))
    message_day = sa.func.date(sa.func.timezone("UTC", col(Message.created_at)))
    async with session_scope() as session:
        total, with_people = (await session.exec(
            select(sa.func.count(), sa.func.count().filter(handed))
            .select_from(Dialog).where(in_period))).one()
        per_day = dict((await session.exec(
            select(day, sa.func.count()).select_from(Dialog).where(in_period)
            .group_by(day))).all())
        messages_per_day = dict((await session.exec(
            select(message_day, sa.func.count()).select_from(Message)
            .where(col(Message.dialog_id).in_(select(ids.c.id)),
                   col(Message.workspace_id) == principal.workspace_id,
                   col(Message.sender).in_(("visitor", "ai", "operator")),
                   col(Message.created_at) >= f.start, col(Message.created_at) < f.end)
            .group_by(message_day))).all())
        asked = sa.func.count(sa.distinct(col(HandoffEvent.dialog_id)))
        reasons = (await session.exec(
            select(col(HandoffEvent.reason), asked)
            .where(col(HandoffEvent.workspace_id) == principal.workspace_id,
                   col(HandoffEvent.dialog_id).in_(select(ids.c.id)),
                   col(HandoffEvent.to_state) == "requested")
            .group_by(col(HandoffEvent.reason))
            .order_by(asked.desc(), col(HandoffEvent.reason))
            .limit(TOP_REASONS))).all()
        ratings = (await session.exec(
            select(col(Dialog.rated_handler), col(Dialog.rating), sa.func.count())
            .where(in_period, col(Dialog.rating).is_not(None))
            .group_by(col(Dialog.rated_handler), col(Dialog.rating)))).all()
    by_handler: dict[str, dict[int, int]] = {"ai": {}, "human": {}}
    for handler, stars, n in ratings:
        if handler in by_handler and stars is not None:
            by_handler[handler][int(stars)] = int(n)
    days: list[Day] = []
    current = f.since
    while current <= f.until:
        days.append(Day(current.isoformat(), int(per_day.get(current, 0)),
                        int(messages_per_day.get(current, 0))))
        current += timedelta(days=1)
    return Summary(
        conversations=int(total), messages=sum(d.messages for d in days),
        ai_only=int(total) - int(with_people), handed_over=int(with_people),
        reasons=[(str(r), int(n)) for r, n in reasons],
        rated_ai=_satisfaction(by_handler["ai"]),
        rated_human=_satisfaction(by_handler["human"]), days=days,
    )
