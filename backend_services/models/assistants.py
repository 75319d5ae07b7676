"""Assistants: the configured AI agents of a workspace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field

from backend_services.models.base import TenantRow, created_at_field, ts_field


class Assistant(TenantRow, table=True):
    __tablename__ = "assistants"
    name: str = Field(max_length=80)
    system_prompt: str = Field(default="", max_length=8000)
    model: str = Field(default="gpt-4o-mini", max_length=120)
    temperature: float = Field(default=0.3)
    language: str = Field(default="en", max_length=8)
    greeting: str = Field(default="", max_length=500)
    is_active: bool = Field(default=True)
    fallback_models: Any = Field(default=None, sa_column=Column(JSONB, nullable=True))
    chunk_max_tokens: int = Field(default=300)
    chunk_overlap_tokens: int = Field(default=40)
    industry: str = Field(default="general", max_length=32)
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()
