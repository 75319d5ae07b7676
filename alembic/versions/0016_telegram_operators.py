"""telegram operators: operators linked to a workspace bot, alerts in the outbox

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 16:00:00

- telegram_operators: an operator's Telegram account linked through a workspace's bot by
  a one-time deep link; the conversation they took from Telegram.
- telegram_outbox: rows that are not a conversation's message (an alert to an operator,
  a visitor's message forwarded to them): message_id nullable, a unique alert_key, and
  the inline keyboard to show.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "telegram_operators",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace_id", sa.Integer(),
                  sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("channel_id", sa.Integer(),
                  sa.ForeignKey("channels.id", ondelete="CASCADE"), nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=True),
        sa.Column("chat_id", sa.BigInteger(), nullable=True),
        sa.Column("telegram_name", sa.String(length=120), nullable=False),
        sa.Column("link_token_hash", sa.String(length=64), nullable=True),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_dialog_id", sa.Integer(),
                  sa.ForeignKey("dialogs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("workspace_id", "user_id"),
        sa.UniqueConstraint("channel_id", "telegram_user_id"),
    )
    op.create_index("ix_telegram_operators_workspace_id", "telegram_operators",
                    ["workspace_id"])
    op.alter_column("telegram_outbox", "message_id", existing_type=sa.Integer(),
                    nullable=True)
    op.add_column("telegram_outbox", sa.Column("alert_key", sa.String(length=120),
                                               nullable=True, unique=True))
    op.add_column("telegram_outbox", sa.Column("reply_markup", JSONB(), nullable=True))


def downgrade() -> None:
    op.execute("DELETE FROM telegram_outbox WHERE message_id IS NULL")
    op.drop_column("telegram_outbox", "reply_markup")
    op.drop_column("telegram_outbox", "alert_key")
    op.alter_column("telegram_outbox", "message_id", existing_type=sa.Integer(),
                    nullable=False)
    op.drop_table("telegram_operators")
