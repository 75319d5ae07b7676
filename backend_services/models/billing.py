"""Prepaid balances, the append-only ledger, the platform's tariffs and model prices.

Money is integer minor units (kopecks / cents) with a currency; see docs/billing.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from backend_services.models.base import created_at_field, parent_fk, ts_field


class Balance(SQLModel, table=True):
    __tablename__ = "balances"
    __table_args__ = (sa.CheckConstraint("amount_minor >= 0", name="ck_balance_non_negative"),)
    workspace_id: int = Field(primary_key=True, foreign_key="workspaces.id", ondelete="CASCADE")
    currency: str = Field(default="USD", max_length=3)
    amount_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    updated_at: datetime | None = ts_field()
    # The low-balance threshold this balance is below, once told (migration 0011): the
    # "balance is low" notice goes once per crossing, and is re-armed by a top-up.
    low_noticed_at: datetime | None = ts_field()


class LedgerEntry(SQLModel, table=True):
    """One change of a balance: negative for a charge, positive for a credit. Written in
    the transaction that changes the balance, keyed so a retry writes nothing twice."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "idempotency_key"),
        sa.Index("ix_ledger_entries_workspace_id_created_at", "workspace_id", "created_at"),
        sa.Index("ix_ledger_entries_created_at", "created_at"),  # analytics.rollup (0013)
    )
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = parent_fk("workspaces")
    amount_minor: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
    currency: str = Field(max_length=3)
    kind: str = Field(max_length=24)
    idempotency_key: str = Field(max_length=128)
    balance_after_minor: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
    reference: str = Field(default="", max_length=300)
    created_at: datetime = created_at_field()
    # What the entry paid for (migration 0011); SET NULL keeps the money when it goes.
    dialog_id: int | None = Field(default=None, foreign_key="dialogs.id", ondelete="SET NULL",
                                  index=True)
    message_id: int | None = Field(default=None, foreign_key="messages.id",
                                   ondelete="SET NULL")
    document_id: int | None = Field(default=None, foreign_key="knowledge_documents.id",
                                    ondelete="SET NULL", index=True)
    actor_user_id: int | None = Field(default=None, foreign_key="users.id",
                                      ondelete="SET NULL")
    payment_id: int | None = Field(default=None, foreign_key="payments.id",
                                   ondelete="SET NULL")  # migration 0012
    # What was asked for when the balance could not cover all of it (the rest is waived).
    requested_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    details: Any = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))


class Tariff(SQLModel, table=True):
    """The platform's price sheet from `effective_from` on: every change is a new row, so
    the sheet in force at any moment can be read back and a change can be scheduled."""

    __tablename__ = "billing_tariffs"
    id: int | None = Field(default=None, primary_key=True)
    currency: str = Field(max_length=3)
    answer_flat_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    # The model's token cost is charged times this percentage (100 = at cost, 0 = not at all).
    token_markup_percent: int = Field(default=100)
    page_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    widget_message_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    telegram_message_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    welcome_bonus_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    low_balance_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    effective_from: datetime = Field(
        sa_type=sa.DateTime(timezone=True), index=True)  # type: ignore[call-overload]
    created_by_user_id: int | None = Field(default=None, foreign_key="users.id",
                                           ondelete="SET NULL")
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


class Payment(SQLModel, table=True):
    """A top-up through a gateway: made before the gateway is called (so its order id is
    ours and known), credited once when the gateway's verified state says it is paid."""

    __tablename__ = "payments"
    __table_args__ = (
        sa.UniqueConstraint("gateway", "gateway_payment_id"),
        sa.Index("ix_payments_workspace_id_created_at", "workspace_id", "created_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    workspace_id: int = parent_fk("workspaces", index=False)
    gateway: str = Field(max_length=16)
    order_id: str = Field(max_length=64, unique=True)
    gateway_payment_id: str | None = Field(default=None, max_length=64)
    amount_minor: int = Field(sa_type=sa.BigInteger)  # type: ignore[call-overload]
    currency: str = Field(max_length=3)
    # created → pending → paid → refunded; or → failed / canceled; "review": the gateway
    # reported something that does not match the order (amount, currency): not credited.
    status: str = Field(default="created", max_length=12, index=True)
    payment_url: str = Field(default="", max_length=1000)
    failure: str = Field(default="", max_length=300)
    refunded_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]
    created_by_user_id: int | None = Field(default=None, foreign_key="users.id",
                                           ondelete="SET NULL")
    created_at: datetime = created_at_field()
    updated_at: datetime | None = ts_field()
    paid_at: datetime | None = ts_field()


class PaymentNotification(SQLModel, table=True):
    """Every notification a gateway sent, stored before it is handled (so none is lost and
    a forged one leaves a trace), with what came of it."""

    __tablename__ = "payment_notifications"
    id: int | None = Field(default=None, primary_key=True)
    gateway: str = Field(max_length=16)
    remote_ip: str = Field(default="", max_length=64)
    payload: Any = Field(default=None, sa_column=sa.Column(JSONB, nullable=True))
    payment_id: int | None = Field(default=None, foreign_key="payments.id",
                                   ondelete="SET NULL", index=True)
    outcome: str = Field(default="received", max_length=200)
    received_at: datetime = created_at_field()
    handled_at: datetime | None = ts_field()
