"""Integration tables: the workspace's API keys (and, later, its outgoing webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field

from backend_services.models.base import TenantRow, created_at_field, ts_field


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
