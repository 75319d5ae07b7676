"""Website widget settings: one row per assistant, created with defaults on first read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Column, Field

from backend_services.models.base import TenantRow, created_at_field, ts_field


class WidgetSettings(TenantRow, table=True):
    """How an assistant's website widget looks and where it may load.

    `public_id` is what the tenant pastes into `data-assistant`: random, so the snippet
    reveals neither the numeric assistant id nor how many assistants exist.
    """

    __tablename__ = "widget_settings"
    assistant_id: int = Field(
        foreign_key="assistants.id", unique=True, nullable=False, ondelete="CASCADE"
    )
    public_id: str = Field(max_length=32, unique=True)
    enabled: bool = Field(default=True)
    title: str = Field(default="", max_length=80)
    primary_color: str = Field(default="#4f46e5", max_length=7)
    position: str = Field(default="right", max_length=8)
    avatar_url: str = Field(default="", max_length=500)
    launcher_text: str = Field(default="", max_length=40)
    language: str = Field(default="en", max_length=8)
    allowed_origins: Any = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()
