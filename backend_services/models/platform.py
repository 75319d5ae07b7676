"""Platform-level tables: AI provider keys and their usage, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field, SQLModel

from backend_services.models.base import created_at_field, parent_fk, ts_field


class AIProviderKey(SQLModel, table=True):
    __tablename__ = "ai_provider_keys"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    base_url: str = Field(max_length=500)
    api_key_encrypted: str
    key_hint: str = Field(default="", max_length=16)
    models: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    requests_per_minute: int = Field(default=60)
    tokens_per_minute: int = Field(default=100_000)
    is_enabled: bool = Field(default=True)
    disabled_reason: str = Field(default="", max_length=300)
    cooldown_until: datetime | None = ts_field()
    created_at: datetime = created_at_field()
    # Migration 0019: lower priority is tried first; token quotas per UTC day and calendar
    # month (0: none); what the provider said when it last failed.
    priority: int = Field(default=100, sa_column_kwargs={"server_default": "100"})
    daily_token_quota: int = Field(default=0, sa_type=sa.BigInteger,  # type: ignore[call-overload]
                                   sa_column_kwargs={"server_default": "0"})
    monthly_token_quota: int = Field(default=0, sa_type=sa.BigInteger,  # type: ignore[call-overload]
                                     sa_column_kwargs={"server_default": "0"})
    last_error: str = Field(default="", max_length=300, sa_column_kwargs={"server_default": ""})
    last_error_at: datetime | None = ts_field()


class AIUsage(SQLModel, table=True):
    __tablename__ = "ai_usage"
    # A key's recent usage (the admin AI page's last-24-hour totals).
    __table_args__ = (sa.Index("ix_ai_usage_key_id_created_at", "key_id", "created_at"),)
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = parent_fk("workspaces")
    key_id: int | None = Field(default=None, foreign_key="ai_provider_keys.id", ondelete="SET NULL")
    model: str = Field(max_length=120)
    message_id: int | None = Field(default=None, foreign_key="messages.id", ondelete="SET NULL")
    tokens_in: int = Field(default=0)
    tokens_out: int = Field(default=0)
    # Millionths of a minor unit, in the currency of the price in force ("" = no price).
    cost_micro: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    currency: str = Field(default="", max_length=3)
    latency_ms: int = Field(default=0)
    status: str = Field(default="ok", max_length=32)
    created_at: datetime = created_at_field()


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int | None = Field(
        default=None, foreign_key="workspaces.id", index=True, ondelete="CASCADE"
    )
    actor_user_id: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    action: str = Field(max_length=64, index=True)
    target: str = Field(default="", max_length=300)
    ip: str = Field(default="", max_length=64)
    details: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    created_at: datetime = created_at_field()


class PlatformSetting(SQLModel, table=True):
    """One platform-wide setting an admin edits in the panel (migration 0018); the typed
    view and the defaults live in identity/platform_settings.py."""

    __tablename__ = "platform_settings"
    key: str = Field(primary_key=True, max_length=64)
    value: Any = Field(sa_column=Column(JSONB, nullable=False))
    updated_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    updated_at: datetime = created_at_field()


class SystemSample(SQLModel, table=True):
    """A measurement the jobs process takes hourly (migration 0022) so the System page can
    draw growth: a table's size, the database's, Valkey's memory and key count. Only
    current values can be asked of PostgreSQL and Valkey; growth needs history."""

    __tablename__ = "system_samples"
    __table_args__ = (sa.Index("ix_system_samples_metric_taken_at", "metric", "taken_at"),)
    id: int | None = Field(default=None, primary_key=True)
    taken_at: datetime = created_at_field()
    metric: str = Field(max_length=40)
    label: str = Field(default="", max_length=120)
    value: float = Field(default=0.0)
