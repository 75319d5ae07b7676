"""knowledge checks

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 06:30:00

- knowledge_checks: regression cases of the quality loop (knowledge/quality.py). A case
  expects a Q&A pair or a document; both keys are SET NULL when that source is deleted,
  so the check can report it. status/detail/checked_at hold the latest run.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "knowledge_checks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("workspace_id", sa.Integer(),
                  sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("assistant_id", sa.Integer(),
                  sa.ForeignKey("assistants.id", ondelete="CASCADE"), nullable=False),
        sa.Column("question", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("qa_pair_id", sa.Integer(),
                  sa.ForeignKey("qa_pairs.id", ondelete="SET NULL"), nullable=True),
        sa.Column("document_id", sa.Integer(),
                  sa.ForeignKey("knowledge_documents.id", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("expected_title", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("detail", sa.String(length=1000), nullable=False),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    for column in ("workspace_id", "assistant_id", "qa_pair_id", "document_id"):
        op.create_index(f"ix_knowledge_checks_{column}", "knowledge_checks", [column])


def downgrade() -> None:
    op.drop_table("knowledge_checks")
