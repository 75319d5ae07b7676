"""Notifications (migration 0014): what happened, who wants to hear of it, what was sent."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Column
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field

from backend_services.models.base import TenantRow, created_at_field, parent_fk, ts_field


class NotificationRequest(TenantRow, table=True):
    """Something to tell a workspace's people, written by core.notify in the transaction
    of what happened; expanded into deliveries by the notifications domain."""

    __tablename__ = "notification_requests"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "key"),
        sa.Index("ix_notification_requests_pending", "id",
                 postgresql_where=sa.text("expanded_at IS NULL")),
    )
    event: str = Field(max_length=32)
    key: str = Field(max_length=160)
    context: Any = Field(default=None, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = created_at_field()
    expanded_at: datetime | None = ts_field()
    outcome: str = Field(default="", max_length=80)  # e.g. "someone was online"


class NotificationSetting(TenantRow, table=True):
    """One person's choice for one event in one workspace; without a row, the default."""

    __tablename__ = "notification_settings"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "user_id", "event"),)
    user_id: int = parent_fk("users")
    event: str = Field(max_length=32)
    email: bool = Field(default=True)


class NotificationDelivery(TenantRow, table=True):
    """One e-mail owed to one person for one request: sent once, retried when SMTP fails,
    or folded into a digest with others of its kind."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "user_id"),
        sa.Index("ix_notification_deliveries_due", "next_try_at",
                 postgresql_where=sa.text("status = 'pending'")),
        sa.Index("ix_notification_deliveries_user_event_sent", "user_id", "event", "sent_at"),
    )
    request_id: int = parent_fk("notification_requests", index=False)
    user_id: int = parent_fk("users", index=False)
    event: str = Field(max_length=32)
    status: str = Field(default="pending", max_length=12)  # pending, sent, failed
    attempts: int = Field(default=0)
    next_try_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    sent_at: datetime | None = ts_field()
    digest_id: int | None = Field(default=None)  # the delivery whose mail carried this one
    error: str = Field(default="", max_length=300)
    created_at: datetime = created_at_field()
