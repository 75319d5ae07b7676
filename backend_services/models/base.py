"""Shared column helpers. Timestamps are timezone-aware UTC, set by the database."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def created_at_field() -> datetime:
    return Field(  # type: ignore[no-any-return]
        default_factory=utcnow,
        sa_type=sa.DateTime(timezone=True),  # type: ignore[call-overload]
        sa_column_kwargs={"server_default": sa.func.now(), "nullable": False},
    )


def ts_field(nullable: bool = True, index: bool = False) -> datetime | None:
    return Field(  # type: ignore[no-any-return]
        default=None,
        sa_type=sa.DateTime(timezone=True),  # type: ignore[call-overload]
        nullable=nullable,
        index=index,
    )


def workspace_fk() -> int:
    """Every tenant table carries this: the column every query is scoped by."""
    return Field(  # type: ignore[no-any-return]
        foreign_key="workspaces.id", index=True, nullable=False, ondelete="CASCADE"
    )
