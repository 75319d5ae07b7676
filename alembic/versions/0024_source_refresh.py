"""scheduled re-fetch of web sources: a schedule per source, when it was last fetched,
the hash of its extracted text (re-indexed only when that changes), and the sitemap a
page came from (its schedule follows the sitemap's)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-08 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("knowledge_documents", sa.Column("refresh_hours", sa.Integer,
                                                   nullable=False, server_default="0"))
    op.add_column("knowledge_documents", sa.Column("fetched_at", sa.DateTime(timezone=True),
                                                   nullable=True))
    op.add_column("knowledge_documents", sa.Column("text_hash", sa.String(length=64),
                                                   nullable=False, server_default=""))
    op.add_column("knowledge_documents", sa.Column(
        "sitemap_id", sa.Integer,
        sa.ForeignKey("knowledge_documents.id", ondelete="SET NULL"), nullable=True))
    op.create_index("ix_knowledge_documents_refresh_due", "knowledge_documents",
                    ["refresh_hours", "fetched_at"],
                    postgresql_where=sa.text("refresh_hours > 0"))


def downgrade() -> None:
    op.drop_index("ix_knowledge_documents_refresh_due", "knowledge_documents")
    for name in ("sitemap_id", "text_hash", "fetched_at", "refresh_hours"):
        op.drop_column("knowledge_documents", name)
