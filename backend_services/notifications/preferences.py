"""A person's choices: which events reach them by e-mail, per workspace, and the language
of their mails. Without a stored choice an event reaches everyone whose role may hear of
it (catalogue.EVENTS); people only ever read and change their own."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import NotificationSetting, User
from backend_services.notifications.catalogue import EVENTS, may_hear
from backend_services.notifications.render import LANGUAGES


@dataclass(frozen=True)
class Preference:
    event: str
    label: str
    email: bool


@dataclass(frozen=True)
class Preferences:
    language: str
    events: list[Preference]


async def preferences(principal: Principal) -> Preferences:
    """The events this person's role may hear of, each with their choice."""
    async with session_scope() as session:
        stored = dict((await session.exec(
            select(col(NotificationSetting.event), col(NotificationSetting.email))
            .where(col(NotificationSetting.workspace_id) == principal.workspace_id,
                   col(NotificationSetting.user_id) == principal.user_id))).all())
        user = await session.get(User, principal.user_id)
    return Preferences(
        language=user.language if user is not None else "en",
        events=[Preference(e.name, e.label, bool(stored.get(e.name, True)))
                for e in EVENTS.values() if may_hear(e, principal.role)])


async def set_preferences(principal: Principal, language: str,
                          chosen: dict[str, bool]) -> Preferences:
    """Store this person's choices (events not named keep theirs)."""
    if language not in LANGUAGES:
        raise ValidationFailed("Choose English or Russian.")
    unknown = [e for e in chosen if e not in EVENTS or not may_hear(EVENTS[e], principal.role)]
    if unknown:
        raise ValidationFailed("Unknown notification: " + ", ".join(sorted(unknown)))
    async with session_scope() as session:
        user = await session.get(User, principal.user_id)
        if user is not None:
            user.language = language
            session.add(user)
        for event, email in chosen.items():
            stmt = insert(NotificationSetting).values(
                workspace_id=principal.workspace_id, user_id=principal.user_id, event=event,
                email=email)
            await session.exec(stmt.on_conflict_do_update(  # type: ignore[call-overload]
                index_elements=["workspace_id", "user_id", "event"],
                set_={"email": stmt.excluded.email}))
    return await preferences(principal)
