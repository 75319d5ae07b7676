"""payments: top-ups through gateways and every notification they sent

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00

- payments: one row per top-up, made before the gateway is called; the gateway's payment
  id is unique per gateway, so one gateway payment is one row (and one credit).
- payment_notifications: every notification stored before it is handled, forged ones too.
- ledger_entries.payment_id: the payment a credit or refund came from.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace_id", sa.Integer(),
                  sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False, unique=True),
        sa.Column("gateway_payment_id", sa.String(length=64), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("payment_url", sa.String(length=1000), nullable=False),
        sa.Column("failure", sa.String(length=300), nullable=False),
        sa.Column("refunded_minor", sa.BigInteger(), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(),
                  sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("gateway", "gateway_payment_id"),
    )
    op.create_index("ix_payments_workspace_id_created_at", "payments",
                    ["workspace_id", "created_at"])
    op.create_index("ix_payments_status", "payments", ["status"])
    op.create_table(
        "payment_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("gateway", sa.String(length=16), nullable=False),
        sa.Column("remote_ip", sa.String(length=64), nullable=False),
        sa.Column("payload", JSONB(), nullable=True),
        sa.Column("payment_id", sa.Integer(),
                  sa.ForeignKey("payments.id", ondelete="SET NULL"), nullable=True),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_payment_notifications_payment_id", "payment_notifications",
                    ["payment_id"])
    op.add_column("ledger_entries", sa.Column(
        "payment_id", sa.Integer(), sa.ForeignKey("payments.id", ondelete="SET NULL"),
        nullable=True))


def downgrade() -> None:
    op.drop_column("ledger_entries", "payment_id")
    op.drop_table("payment_notifications")
    op.drop_table("payments")
