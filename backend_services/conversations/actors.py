"""Who talks in a conversation: a contact (anonymous widget visitor or Telegram user).

A contact acts through a `ContactActor`, which the channel builds after it has verified
the visitor (a signed widget token, a Telegram update for a known bot). The actor names one
assistant: a visitor of assistant A can never reach a dialog of assistant B, even in the
same workspace, nor another visitor's dialog. Dashboard users act as `Principal`s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from backend_services.conversations.sql import run
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Assistant, Channel, Contact

ChannelKind = Literal["widget", "telegram"]
CHANNEL_KINDS: tuple[str, ...] = ("widget", "telegram")


@dataclass(frozen=True)
class ContactActor:
    """An anonymous visitor or Telegram user, scoped to one assistant of one workspace."""

    workspace_id: int
    assistant_id: int
    contact_id: int
    channel_kind: str
    channel_id: int | None
    external_id: str

    @property
    def label(self) -> str:
        """How events name this actor (`by`)."""
        return "visitor"


# Every service that both sides may call (history, close) takes either.
Who = ContactActor | Principal


async def contact_actor(
    workspace_id: int,
    assistant_id: int,
    kind: str,
    external_id: str,
    *,
    channel_id: int | None = None,
    name: str = "",
) -> ContactActor:
    """Find or create the contact and return it as an actor of this assistant.

    The ids come from a verified source (the visitor token, the bot's own record), never
    from what a browser claims. A missing, inactive or foreign assistant (or channel)
    looks the same: the chat is not available.
    """
    if kind not in CHANNEL_KINDS:
        raise ValidationFailed("Unknown channel.")
    external_id = external_id.strip()
    if not external_id or len(external_id) > 128:
        raise ValidationFailed("The visitor id is missing or too long.")
    name = " ".join(name.split())[:200]
    async with session_scope() as session:
        assistant = await session.get(Assistant, assistant_id)
        if assistant is None or assistant.workspace_id != workspace_id or not assistant.is_active:
            raise NotFound("This chat is not available.")
        if channel_id is not None:
            channel = await session.get(Channel, channel_id)
            if (
                channel is None
                or channel.workspace_id != workspace_id
                or channel.assistant_id != assistant_id
            ):
                raise NotFound("This chat is not available.")
        # Every message of a conversation comes through here: read first, and write only
        # for a new contact or a new name (an upsert rewrites the row every time).
        found = (await session.exec(
            select(col(Contact.id), col(Contact.name)).where(
                col(Contact.workspace_id) == workspace_id, col(Contact.kind) == kind,
                col(Contact.external_id) == external_id)
        )).first()
        contact_id: int | None = None
        if found is not None and (not name or found[1] == name):
            contact_id = found[0]
        if contact_id is None:
            stmt = insert(Contact).values(
                workspace_id=workspace_id, kind=kind, external_id=external_id, name=name
            )
            upsert = stmt.on_conflict_do_update(
                index_elements=["workspace_id", "kind", "external_id"],
                # Keep a name the visitor gave earlier unless a new one arrives.
                set_={"name": sa.case((stmt.excluded.name != "", stmt.excluded.name),
                                      else_=col(Contact.name))},
            ).returning(col(Contact.id))
            contact_id = int((await run(session, upsert)).scalar_one())
    return ContactActor(
        workspace_id=workspace_id,
        assistant_id=assistant_id,
        contact_id=int(contact_id),
        channel_kind=kind,
        channel_id=channel_id,
        external_id=external_id,
    )
