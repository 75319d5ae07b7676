"""telegram outbox

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 09:00:00

- New table telegram_outbox: one row per operator or system message that must reach a
  Telegram chat (unique per message), with its parts split at Telegram's limit, the
  Telegram ids of the parts already delivered, status, attempts, retry time and lease.
  A partial index on (channel_id, chat_id, message_id) of pending rows finds the oldest
  undelivered message of each chat.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "telegram_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("dialog_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("text", _S(), nullable=False),
        sa.Column("parts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", _S(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("lease_until", _TS, nullable=True),
        sa.Column("lease_token", _S(length=36), nullable=False),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("last_error", _S(length=500), nullable=False),
        sa.Column("telegram_message_ids", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TS, nullable=True),
        sa.CheckConstraint("status IN ('queued', 'sending', 'sent', 'failed')",
                           name="ck_telegram_outbox_status"),
        sa.ForeignKeyConstraint(["channel_id"], ["channels.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dialog_id"], ["dialogs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
    )
    op.create_index(op.f("ix_telegram_outbox_workspace_id"), "telegram_outbox",
                    ["workspace_id"], unique=False)
    op.create_index(op.f("ix_telegram_outbox_dialog_id"), "telegram_outbox",
                    ["dialog_id"], unique=False)
    op.create_index("ix_telegram_outbox_pending", "telegram_outbox",
                    ["channel_id", "chat_id", "message_id"], unique=False,
                    postgresql_where=sa.text("status IN ('queued', 'sending')"))


def downgrade() -> None:
    op.drop_index("ix_telegram_outbox_pending", table_name="telegram_outbox",
                  postgresql_where=sa.text("status IN ('queued', 'sending')"))
    op.drop_index(op.f("ix_telegram_outbox_dialog_id"), table_name="telegram_outbox")
    op.drop_index(op.f("ix_telegram_outbox_workspace_id"), table_name="telegram_outbox")
    op.drop_table("telegram_outbox")
