"""Prepaid balances, the append-only ledger and model prices. Money is integer minor units."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend_services.models.base import created_at_field, parent_fk, ts_field


class Balance(SQLModel, table=True):
    __tablename__ = "balances"
    __table_args__ = (sa.CheckConstraint("amount_minor >= 0", name="ck_balance_non_negative"),)
    workspace_id: int = Field(primary_key=True, foreign_key="workspaces.id", ondelete="CASCADE")
    currency: str = Field(default="USD", max_length=3)
    amount_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    updated_at: datetime | None = ts_field()


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "idempotency_key"),)
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = parent_fk("workspaces")
    amount_minor: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
    currency: str = Field(max_length=3)
    kind: str = Field(max_length=24)
    idempotency_key: str = Field(max_length=128)
    balance_after_minor: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
    reference: str = Field(default="", max_length=300)
    created_at: datetime = created_at_field()


class Price(SQLModel, table=True):
    """Per-model prices set by platform admins, in micro-units (millionths of a minor unit)
    per million tokens: fine enough for the cheapest models, still exact integers."""

    __tablename__ = "prices"
    id: int | None = Field(default=None, primary_key=True)
    model: str = Field(max_length=120, index=True)
    input_per_mtok_micro: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    output_per_mtok_micro: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    currency: str = Field(default="USD", max_length=3)
    effective_from: datetime = created_at_field()
