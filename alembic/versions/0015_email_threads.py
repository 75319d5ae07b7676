"""email threads: a conversation answered by e-mail when the visitor left an address

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00

- dialogs.email_thread: operators' replies are mailed to the visitor, whose e-mail
  replies come back into the conversation.
- email_messages: each mail out (an outbox, sent by the jobs) and in (received), unique
  by RFC Message-ID.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dialogs", sa.Column("email_thread", sa.Boolean(), nullable=False,
                                       server_default="false"))
    op.create_table(
        "email_messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace_id", sa.Integer(),
                  sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("dialog_id", sa.Integer(), sa.ForeignKey("dialogs.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("message_id", sa.Integer(),
                  sa.ForeignKey("messages.id", ondelete="CASCADE"), nullable=True),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.Column("rfc_message_id", sa.String(length=300), nullable=False, unique=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("ix_email_messages_workspace_id", "email_messages", ["workspace_id"])
    op.create_index("ix_email_messages_dialog_id", "email_messages", ["dialog_id"])
    op.create_index("ix_email_messages_due", "email_messages", ["next_try_at"],
                    postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_table("email_messages")
    op.drop_column("dialogs", "email_thread")
