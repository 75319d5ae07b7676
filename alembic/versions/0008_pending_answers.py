"""pending answers

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 12:00:00

- New table pending_answers: one row per stored widget question the AI still owes an
  answer, with the lease (holder, lease_until) of the web worker writing it and how many
  workers have tried. An index on lease_until finds the expired leases to take over.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "pending_answers",
        sa.Column("question_id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("dialog_id", sa.Integer(), nullable=False),
        sa.Column("holder", _S(length=64), nullable=False),
        sa.Column("lease_until", _TS, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(["question_id"], ["messages.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["dialog_id"], ["dialogs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("question_id"),
    )
    op.create_index(op.f("ix_pending_answers_workspace_id"), "pending_answers",
                    ["workspace_id"], unique=False)
    op.create_index(op.f("ix_pending_answers_dialog_id"), "pending_answers",
                    ["dialog_id"], unique=False)
    op.create_index("ix_pending_answers_lease_until", "pending_answers", ["lease_until"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_pending_answers_lease_until", table_name="pending_answers")
    op.drop_index(op.f("ix_pending_answers_dialog_id"), table_name="pending_answers")
    op.drop_index(op.f("ix_pending_answers_workspace_id"), table_name="pending_answers")
    op.drop_table("pending_answers")
