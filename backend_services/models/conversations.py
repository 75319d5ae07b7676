"""Channels, contacts, dialogs, messages and handoff events (channel-agnostic), plus what
live conversations need: per-assistant handoff policies, canned responses and read marks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field, SQLModel

from backend_services.models.base import (
    AssistantRow,
    TenantRow,
    created_at_field,
    parent_fk,
    ts_field,
    workspace_fk,
)


class Channel(AssistantRow, table=True):
    """A deployment of an assistant: today a Telegram bot (backend_services/channels).

    The token and the webhook secret are stored encrypted. `is_active` is the desired
    state the tenant chose (running or stopped); what the fleet actually does is reported
    in Redis. `version` grows on every change, so a fleet worker can tell it must restart
    the bot. A bot (kind + external id = Telegram bot id) is connected at most once.
    """

    __tablename__ = "channels"
    __table_args__ = (
        sa.Index(
            "uq_channels_kind_external_id",
            "kind",
            "external_id",
            unique=True,
            postgresql_where=sa.text("external_id <> ''"),
        ),
    )
    kind: str = Field(max_length=16)
    name: str = Field(default="", max_length=120)
    token_encrypted: str = Field(default="")
    webhook_secret_encrypted: str = Field(default="")
    external_id: str = Field(default="", max_length=64)
    is_active: bool = Field(default=True)
    created_at: datetime = created_at_field()
    # Telegram channels (migration 0006).
    username: str = Field(default="", max_length=64)
    mode: str = Field(default="polling", max_length=16)
    version: int = Field(default=1)
    updated_at: datetime | None = ts_field()


class Contact(TenantRow, table=True):
    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "kind", "external_id"),)
    kind: str = Field(max_length=16)
    external_id: str = Field(max_length=128)
    name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=254)
    created_at: datetime = created_at_field()


class Dialog(AssistantRow, table=True):
    __tablename__ = "dialogs"
    __table_args__ = (
        # A contact has at most one open dialog per assistant; a closed one is never reopened.
        sa.Index(
            "uq_dialogs_open_per_contact",
            "contact_id",
            "assistant_id",
            unique=True,
            postgresql_where=sa.text("status <> 'closed'"),
        ),
        sa.Index("ix_dialogs_workspace_id_updated_at", "workspace_id", "updated_at"),
        sa.Index("ix_dialogs_updated_at", "updated_at"),  # analytics.rollup (migration 0013)
    )
    channel_id: int | None = Field(default=None, foreign_key="channels.id", ondelete="SET NULL")
    contact_id: int = parent_fk("contacts")
    status: str = Field(default="ai", max_length=16, index=True)
    assigned_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    rating: int | None = Field(default=None)
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()
    closed_at: datetime | None = ts_field()
    # Live-conversation bookkeeping (migration 0004).
    handoff_requested_at: datetime | None = ts_field()  # the latest ai -> requested
    handoff_reason: str = Field(default="", max_length=300)
    accepted_at: datetime | None = ts_field()  # the latest take-over by a human
    first_human_reply_at: datetime | None = ts_field()
    # Seconds from the request to the first human reply: the SLA figure, fixed once.
    first_reply_seconds: int | None = Field(default=None)
    # Set when nobody accepted in time (or outside hours): the timeout fires once per wait.
    wait_expired_at: datetime | None = ts_field()
    awaiting_contact: bool = Field(default=False)
    # The visitor left an e-mail address for the answer (migration 0015): operators'
    # replies are mailed to it and the visitor's e-mail replies come back here.
    email_thread: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})
    rated_handler: str = Field(default="", max_length=8)
    rated_at: datetime | None = ts_field()  # the latest rating (migration 0021: webhooks)
    failed_in_row: int = Field(default=0)
    last_message_id: int | None = Field(default=None)
    last_message_preview: str = Field(default="", max_length=200)


class Message(TenantRow, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        sa.UniqueConstraint("dialog_id", "client_id"),
        sa.UniqueConstraint("dialog_id", "external_id"),
        sa.Index("ix_messages_created_at", "created_at"),  # analytics.rollup (migration 0013)
    )
    dialog_id: int = parent_fk("dialogs")
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
    # Usage of an AI answer (migration 0004); the ai_usage row links back by message_id.
    # cost_micro is exact (millionths of a minor unit); cost_minor is it rounded up.
    cost_micro: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    cost_currency: str = Field(default="", max_length=3)
    model: str = Field(default="", max_length=120)
    key_id: int | None = Field(default=None, foreign_key="ai_provider_keys.id", ondelete="SET NULL")
    latency_ms: int = Field(default=0)
    answer_mode: str = Field(default="", max_length=16)


class HandoffEvent(TenantRow, table=True):
    __tablename__ = "handoff_events"
    dialog_id: int = parent_fk("dialogs")
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    reason: str = Field(default="", max_length=300)
    created_at: datetime = created_at_field()
    # Who moved the dialog (conversations.store.TransitionActor): "user", "visitor", "system".
    actor: str = Field(default="system", max_length=16)


class HandoffPolicyRow(TenantRow, table=True):
    """One assistant's handoff policy, stored whole as JSON (conversations.policy parses it)."""

    __tablename__ = "handoff_policies"
    assistant_id: int = Field(
        foreign_key="assistants.id", ondelete="CASCADE", sa_column_kwargs={"unique": True}
    )
    settings: Any = Field(default=None, sa_column=Column(JSONB, nullable=False))
    updated_at: datetime | None = ts_field()


class CannedResponse(TenantRow, table=True):
    __tablename__ = "canned_responses"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "shortcut"),)
    shortcut: str = Field(max_length=32)
    title: str = Field(default="", max_length=120)
    body: str = Field(max_length=4000)
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()


class DialogRead(TenantRow, table=True):
    """How far an operator has read a dialog: unread counts are messages after this id."""

    __tablename__ = "dialog_reads"
    __table_args__ = (sa.UniqueConstraint("dialog_id", "user_id"),)
    dialog_id: int = parent_fk("dialogs", index=False)
    user_id: int = parent_fk("users")
    last_read_message_id: int = Field(default=0)


class PendingAnswer(SQLModel, table=True):
    """A widget visitor's question the AI has still to answer (migration 0008).

    Written in the transaction that stores the question and deleted in the one that
    stores the answer (or decides there will be none), so a row exists exactly while an
    answer is owed. The web worker writing the answer holds a lease it renews; when that
    worker dies the lease runs out and any live worker claims the row and answers — the
    answer's client id (`ai:<question id>`) keeps it single even if two ever race.
    Telegram questions never get a row: their update stays unconfirmed until answered.
    """

    __tablename__ = "pending_answers"
    question_id: int = Field(primary_key=True, foreign_key="messages.id", ondelete="CASCADE")
    workspace_id: int = workspace_fk()
    dialog_id: int = parent_fk("dialogs")
    holder: str = Field(default="", max_length=64)
    lease_until: datetime = Field(sa_column=Column(sa.DateTime(timezone=True), nullable=False,
                                                   index=True))
    attempts: int = Field(default=1)
    created_at: datetime = created_at_field()


class EmailThreadMessage(TenantRow, table=True):
    """A conversation's e-mail with its visitor (migration 0015): an operator's reply to
    mail ("out", written with the reply, sent by the jobs) or a visitor's reply received
    ("in", written with the message it became). The RFC Message-ID is unique, so a mail
    sent twice or received twice is one row."""

    __tablename__ = "email_messages"
    __table_args__ = (
        sa.Index("ix_email_messages_due", "next_try_at",
                 postgresql_where=sa.text("status = 'pending'")),
    )
    dialog_id: int = parent_fk("dialogs")
    message_id: int | None = Field(default=None, foreign_key="messages.id", ondelete="CASCADE")
    direction: str = Field(max_length=3)  # out, in
    address: str = Field(max_length=254)  # the visitor's
    rfc_message_id: str = Field(max_length=300, sa_column_kwargs={"unique": True})
    status: str = Field(default="pending", max_length=12)  # pending, sent, failed, received
    attempts: int = Field(default=0)
    next_try_at: datetime | None = ts_field()
    error: str = Field(default="", max_length=300)
    created_at: datetime = created_at_field()
