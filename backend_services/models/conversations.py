"""Channels, contacts, dialogs, messages and handoff events (channel-agnostic)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field, SQLModel

from backend_services.models.base import created_at_field, ts_field, workspace_fk


class Channel(SQLModel, table=True):
    """A deployment of an assistant; Telegram bots keep their token encrypted."""

    __tablename__ = "channels"
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    assistant_id: int = Field(foreign_key="assistants.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=16)
    name: str = Field(default="", max_length=120)
    token_encrypted: str = Field(default="")
    webhook_secret_encrypted: str = Field(default="")
    external_id: str = Field(default="", max_length=64)
    is_active: bool = Field(default=True)
    created_at: datetime = created_at_field()


class Contact(SQLModel, table=True):
    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "kind", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    kind: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    created_at: datetime = created_at_field()


class Dialog(SQLModel, table=True):
    __tablename__ = "dialogs"
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    assistant_id: int = Field(foreign_key="assistants.id", index=True, ondelete="CASCADE")
    channel_id: int | None = Field(default=None, foreign_key="channels.id", ondelete="SET NULL")
    contact_id: int = Field(foreign_key="contacts.id", index=True, ondelete="CASCADE")
    status: str = Field(default="ai", max_length=16, index=True)
    assigned_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    rating: int | None = Field(default=None)
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()
    closed_at: datetime | None = ts_field()


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("dialog_id", "client_id"),
        sa.UniqueConstraint("dialog_id", "external_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    dialog_id: int = Field(foreign_key="dialogs.id", index=True, ondelete="CASCADE")
    sender: str = Field(max_length=16)
    author_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    content: str
    client_id: str | None = Field(default=None, max_length=64)
    external_id: str | None = Field(default=None, max_length=64)
    sources: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    confidence: float | None = Field(default=None)
    tokens_in: int = Field(default=0)
    tokens_out: int = Field(default=0)
    cost_minor: int = Field(default=0)
    created_at: datetime = created_at_field()


class HandoffEvent(SQLModel, table=True):
    __tablename__ = "handoff_events"
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()
    dialog_id: int = Field(foreign_key="dialogs.id", index=True, ondelete="CASCADE")
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    reason: str = Field(default="", max_length=300)
    created_at: datetime = created_at_field()
