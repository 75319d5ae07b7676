"""Integration tables: the workspace's API keys and its outgoing webhooks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field

from backend_services.models.base import TenantRow, created_at_field, parent_fk, ts_field


class ApiKey(TenantRow, table=True):
    """A workspace's key for the public REST API (migration 0020). Only the SHA-256 of the
    whole token is stored; `prefix` (the token's public part) finds the row."""

    __tablename__ = "api_keys"
    name: str = Field(max_length=80)
    prefix: str = Field(max_length=24, sa_column_kwargs={"unique": True})
    secret_hash: str = Field(max_length=64)
    scopes: Any = Field(sa_column=Column(JSONB, nullable=False))
    created_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_at: datetime = created_at_field()
    last_used_at: datetime | None = ts_field()
    last_used_ip: str = Field(default="", max_length=64)
    revoked_at: datetime | None = ts_field()


class WebhookEndpoint(TenantRow, table=True):
    """Where a workspace wants its events POSTed (migration 0021). `scanned_until` is how
    far its events have been collected (webhooks/events.py)."""

    __tablename__ = "webhook_endpoints"
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=200)
    secret_encrypted: str
    events: Any = Field(sa_column=Column(JSONB, nullable=False))
    is_active: bool = Field(default=True)
    created_at: datetime = created_at_field()
    scanned_until: datetime = created_at_field()


class WebhookDelivery(TenantRow, table=True):
    """One event for one endpoint, stored before it is sent and kept with what the
    receiver answered. (endpoint, event id) is unique, so an event is queued once."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("endpoint_id", "event_id"),
        sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    endpoint_id: int = parent_fk("webhook_endpoints")
    event_id: str = Field(max_length=120)
    event_type: str = Field(max_length=40)
    payload: Any = Field(sa_column=Column(JSONB, nullable=False))
    status: str = Field(default="pending", max_length=16)  # pending, delivered, failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime = created_at_field()
    last_status_code: int | None = Field(default=None)
    last_response: str = Field(default="", max_length=1000)
    last_error: str = Field(default="", max_length=300)
    created_at: datetime = created_at_field()
    delivered_at: datetime | None = ts_field()
