"""The Telegram outbox: one row per stored message that must reach a Telegram chat
(backend_services/channels/telegram/outbox.py owns it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field

from backend_services.models.base import (
    TenantRow,
    created_at_field,
    parent_fk,
    ts_field,
)

OutboxStatus = Literal["queued", "sending", "sent", "failed"]
_STATUS_LIST = ", ".join(f"'{s}'" for s in get_args(OutboxStatus))


class TelegramOutbox(TenantRow, table=True):
    """A message on its way to a Telegram chat.

    `parts` is the text split at Telegram's limit when the row was made, so a retry sends
    exactly the same parts; `telegram_message_ids` grows by one as each part goes out, so a
    retry starts after the parts already delivered. Only the oldest pending row of a chat
    (by `message_id`) may be sent: the partial index serves that lookup.
    """

    __tablename__ = "telegram_outbox"
    __table_args__ = (
        sa.Index(
            "ix_telegram_outbox_pending",
            "channel_id",
            "chat_id",
            "message_id",
            postgresql_where=sa.text("status IN ('queued', 'sending')"),
        ),
        sa.CheckConstraint(
            f"status IN ({_STATUS_LIST})",
            name="ck_telegram_outbox_status",
        ),
    )
    channel_id: int = parent_fk("channels", index=False)
    chat_id: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
    dialog_id: int = parent_fk("dialogs")
    # None for what is not a conversation's message (migration 0016): an alert to an
    # operator's chat, or a visitor's message forwarded to the operator who took it.
    message_id: int | None = Field(
        default=None, foreign_key="messages.id", ondelete="CASCADE",
        sa_column_kwargs={"unique": True}
    )
    alert_key: str | None = Field(default=None, max_length=120,
                                  sa_column_kwargs={"unique": True})
    reply_markup: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    text: str
    parts: Any = Field(default=None, sa_column=Column(JSONB, nullable=False))
    status: str = Field(default="queued", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(
        sa_type=sa.DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": sa.func.now(), "nullable": False},
    )
    lease_until: datetime | None = ts_field()
    lease_token: str = Field(default="", max_length=36)
    sent_at: datetime | None = ts_field()
    last_error: str = Field(default="", max_length=500)
    telegram_message_ids: Any = Field(
        default=None,
        sa_column=Column(JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()


class TelegramOperator(TenantRow, table=True):
    """An operator's Telegram account, linked through one of the workspace's bots
    (migration 0016; channels/telegram/operators.py owns it).

    While `link_token_hash` is set and not expired, the deep link that carries the token
    may be opened once; opening it fills the Telegram ids and clears the token.
    `current_dialog_id` is the conversation the operator took from Telegram: their
    messages to the bot go there.
    """

    __tablename__ = "telegram_operators"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "user_id"),
        sa.UniqueConstraint("channel_id", "telegram_user_id"),
    )
    user_id: int = parent_fk("users", index=False)
    channel_id: int = parent_fk("channels", index=False)
    telegram_user_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    chat_id: int | None = Field(default=None, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    telegram_name: str = Field(default="", max_length=120)
    link_token_hash: str | None = Field(default=None, max_length=64)
    token_expires_at: datetime | None = ts_field()
    linked_at: datetime | None = ts_field()
    current_dialog_id: int | None = Field(default=None, foreign_key="dialogs.id",
                                          ondelete="SET NULL")
    created_at: datetime = created_at_field()
