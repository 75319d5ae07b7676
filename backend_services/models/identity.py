"""Workspaces, users, memberships, invitations, sessions and one-time auth tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend_services.models.base import (
    TenantRow,
    created_at_field,
    parent_fk,
    ts_field,
    workspace_fk,
)


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    OPERATOR = "operator"


ROLE_RANK = {Role.OPERATOR: 1, Role.ADMIN: 2, Role.OWNER: 3}


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=120)
    currency: str = Field(default="USD", max_length=3)
    is_demo: bool = Field(default=False)
    storage_quota_bytes: int = Field(
        default=200 * 1024 * 1024, sa_type=sa.BigInteger  # type: ignore[call-overload]
    )
    created_at: datetime = created_at_field()
    # An owner asked to delete it (migration 0017): it goes at `delete_after` unless an
    # owner cancels first.
    deletion_requested_at: datetime | None = ts_field()
    delete_after: datetime | None = ts_field()
    # Blocked by a platform admin (migration 0018): members cannot enter it, its widget and
    # bots stop answering, its data stays until it is unblocked.
    blocked_at: datetime | None = ts_field()
    blocked_reason: str = Field(default="", max_length=300,
                                sa_column_kwargs={"server_default": ""})


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=254, sa_column_kwargs={"unique": True})
    name: str = Field(default="", max_length=120)
    password_hash: str
    email_confirmed_at: datetime | None = ts_field()
    is_platform_admin: bool = Field(default=False)
    is_blocked: bool = Field(default=False)
    created_at: datetime = created_at_field()
    last_login_at: datetime | None = ts_field()
    # The language of the person's e-mails (migration 0014): "en" or "ru".
    language: str = Field(default="en", max_length=8, sa_column_kwargs={"server_default": "en"})
    # The person deleted their account (migration 0017): the row stays, scrubbed, so the
    # conversations they answered still say "a former teammate" rather than losing rows.
    deleted_at: datetime | None = ts_field()


class Membership(TenantRow, table=True):
    __tablename__ = "memberships"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "user_id"),)
    user_id: int = parent_fk("users")
    role: str = Field(max_length=16)
    created_at: datetime = created_at_field()


class Invitation(TenantRow, table=True):
    __tablename__ = "invitations"
    email: str = Field(max_length=254)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    invited_by: int | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    expires_at: datetime = ts_field(nullable=False)  # type: ignore[assignment]
    accepted_at: datetime | None = ts_field()
    revoked_at: datetime | None = ts_field()
    created_at: datetime = created_at_field()


class UserSession(SQLModel, table=True):
    """A login. The cookie holds a 128-bit random id; only its SHA-256 is stored."""

    __tablename__ = "sessions"
    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = parent_fk("users")
    workspace_id: int = workspace_fk()
    created_at: datetime = created_at_field()
    last_seen_at: datetime = ts_field(nullable=False)  # type: ignore[assignment]
    expires_at: datetime = ts_field(nullable=False)  # type: ignore[assignment]
    revoked_at: datetime | None = ts_field()
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class AuthToken(SQLModel, table=True):
    """Single-use, expiring e-mail tokens (confirm address, reset password, login ticket)."""

    __tablename__ = "auth_tokens"
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = parent_fk("users")
    purpose: str = Field(max_length=32)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True})
    # What the token is for beyond its purpose (migration 0017): the new address of an
    # e-mail change.
    payload: str = Field(default="", max_length=254, sa_column_kwargs={"server_default": ""})
    expires_at: datetime = ts_field(nullable=False)  # type: ignore[assignment]
    used_at: datetime | None = ts_field()
    created_at: datetime = created_at_field()
