"""knowledge review

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 02:20:00

- knowledge_chunks.flags (JSONB list): what backend_services/knowledge/flags.py found in the
  passage (instruction, payment, phone, link).
- knowledge_chunks.held: a flagged passage waits for an admin's approval; retrieval skips
  it. approved_by / approved_at record who let it through and when.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("knowledge_chunks", sa.Column(
        "flags", postgresql.JSONB(astext_type=sa.Text()), nullable=False,
        server_default=sa.text("'[]'::jsonb")))
    op.add_column("knowledge_chunks", sa.Column(
        "held", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column("knowledge_chunks", sa.Column("approved_by", sa.Integer(), nullable=True))
    op.add_column("knowledge_chunks", sa.Column(
        "approved_at", sa.DateTime(timezone=True), nullable=True))
    op.create_foreign_key("knowledge_chunks_approved_by_fkey", "knowledge_chunks", "users",
                          ["approved_by"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    op.drop_constraint("knowledge_chunks_approved_by_fkey", "knowledge_chunks",
                       type_="foreignkey")
    op.drop_column("knowledge_chunks", "approved_at")
    op.drop_column("knowledge_chunks", "approved_by")
    op.drop_column("knowledge_chunks", "held")
    op.drop_column("knowledge_chunks", "flags")
