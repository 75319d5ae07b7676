"""analytics: roll-ups of conversations and of messages per hour

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 13:00:00

- analytics_dialogs: one row per conversation (handling, response times, rating, the
  opening question and its embedding), kept by analytics.rollup.
- analytics_hours: messages, unanswered AI answers and AI charges per workspace,
  assistant, channel and UTC hour.
- analytics_marks: how far each roll-up has read.
- indexes by time alone on messages, dialogs (updated_at) and ledger entries: the
  roll-up reads what changed since its mark in every workspace at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME_INDEXES = (("ix_messages_created_at", "messages", "created_at"),
                 ("ix_dialogs_updated_at", "dialogs", "updated_at"),
                 ("ix_ledger_entries_created_at", "ledger_entries", "created_at"))


def upgrade() -> None:
    op.create_table(
        "analytics_dialogs",
        sa.Column("dialog_id", sa.Integer(), sa.ForeignKey("dialogs.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("workspace_id", sa.Integer(),
                  sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("assistant_id", sa.Integer(),
                  sa.ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("handed", sa.Boolean(), nullable=False),
        sa.Column("ai_first_seconds", sa.Float(), nullable=True),
        sa.Column("human_first_seconds", sa.Integer(), nullable=True),
        sa.Column("resolution_seconds", sa.Float(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("rated_handler", sa.String(length=8), nullable=False),
        sa.Column("question_read", sa.Boolean(), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("question_vector", sa.LargeBinary(), nullable=True),
        sa.Column("question_embedder", sa.String(length=80), nullable=False),
    )
    op.create_index("ix_analytics_dialogs_workspace_id", "analytics_dialogs",
                    ["workspace_id"])
    op.create_index("ix_analytics_dialogs_workspace_id_created_at", "analytics_dialogs",
                    ["workspace_id", "created_at"])
    op.create_table(
        "analytics_hours",
        sa.Column("workspace_id", sa.Integer(),
                  sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("assistant_id", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(length=16), primary_key=True),
        sa.Column("hour", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("visitor", sa.Integer(), nullable=False),
        sa.Column("ai", sa.Integer(), nullable=False),
        sa.Column("operator", sa.Integer(), nullable=False),
        sa.Column("weak_answers", sa.Integer(), nullable=False),
        sa.Column("answers_charged", sa.Integer(), nullable=False),
        sa.Column("ai_cost_minor", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "analytics_marks",
        sa.Column("name", sa.String(length=32), primary_key=True),
        sa.Column("read_until", sa.DateTime(timezone=True), nullable=False),
    )
    for name, table, column in _TIME_INDEXES:
        op.create_index(name, table, [column])


def downgrade() -> None:
    for name, table, _column in reversed(_TIME_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("analytics_marks")
    op.drop_table("analytics_hours")
    op.drop_index("ix_analytics_dialogs_workspace_id_created_at",
                  table_name="analytics_dialogs")
    op.drop_index("ix_analytics_dialogs_workspace_id", table_name="analytics_dialogs")
    op.drop_table("analytics_dialogs")
