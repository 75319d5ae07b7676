"""billing: tariffs, ledger links, low-balance notice

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 10:00:00

- billing_tariffs: the platform's price sheet, one row per change with the moment it
  takes effect (history kept, changes scheduled ahead); read by billing/tariffs.py.
- ledger_entries: what an entry paid for (dialog, message, document; SET NULL so the
  money stays when they go), who made it (admin adjustments), the amount asked for when
  the balance could not cover it, details; an index for the ledger page's paging.
- balances.low_noticed_at: the low-balance notice is sent once per crossing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LINKS = (("dialog_id", "dialogs"), ("message_id", "messages"),
          ("document_id", "knowledge_documents"), ("actor_user_id", "users"))


def upgrade() -> None:
    op.create_table(
        "billing_tariffs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("answer_flat_minor", sa.BigInteger(), nullable=False),
        sa.Column("token_markup_percent", sa.Integer(), nullable=False),
        sa.Column("page_minor", sa.BigInteger(), nullable=False),
        sa.Column("widget_message_minor", sa.BigInteger(), nullable=False),
        sa.Column("telegram_message_minor", sa.BigInteger(), nullable=False),
        sa.Column("welcome_bonus_minor", sa.BigInteger(), nullable=False),
        sa.Column("low_balance_minor", sa.BigInteger(), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_user_id", sa.Integer(),
                  sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("ix_billing_tariffs_effective_from", "billing_tariffs",
                    ["effective_from"])
    for column, table in _LINKS:
        op.add_column("ledger_entries", sa.Column(
            column, sa.Integer(), sa.ForeignKey(f"{table}.id", ondelete="SET NULL"),
            nullable=True))
    op.add_column("ledger_entries", sa.Column("requested_minor", sa.BigInteger(),
                                              nullable=False, server_default="0"))
    op.add_column("ledger_entries", sa.Column("details", JSONB(), nullable=True))
    op.create_index("ix_ledger_entries_workspace_id_created_at", "ledger_entries",
                    ["workspace_id", "created_at"])
    op.create_index("ix_ledger_entries_document_id", "ledger_entries", ["document_id"])
    op.create_index("ix_ledger_entries_dialog_id", "ledger_entries", ["dialog_id"])
    op.add_column("balances", sa.Column("low_noticed_at", sa.DateTime(timezone=True),
                                        nullable=True))


def downgrade() -> None:
    op.drop_column("balances", "low_noticed_at")
    op.drop_index("ix_ledger_entries_dialog_id", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_document_id", table_name="ledger_entries")
    op.drop_index("ix_ledger_entries_workspace_id_created_at", table_name="ledger_entries")
    op.drop_column("ledger_entries", "details")
    op.drop_column("ledger_entries", "requested_minor")
    for column, _table in reversed(_LINKS):
        op.drop_column("ledger_entries", column)
    op.drop_table("billing_tariffs")
