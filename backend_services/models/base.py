"""Shared column helpers. Timestamps are timezone-aware UTC, set by the database."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


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


def parent_fk(table: str, *, index: bool = True) -> int:
    """A row that belongs to a row of `table` and goes when that row is deleted."""
    return Field(  # type: ignore[no-any-return]
        foreign_key=f"{table}.id", index=index, nullable=False, ondelete="CASCADE"
    )


class TenantRow(SQLModel):
    """A workspace's row (not a table itself): its id, and the workspace every query is
    scoped by. SQLModel gives each table that inherits it columns of its own."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = workspace_fk()


class AssistantRow(TenantRow):
    """A row that belongs to one of the workspace's assistants and goes with it."""

    assistant_id: int = parent_fk("assistants")
