"""stored files: uploads kept in PostgreSQL, readable from every host

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08 00:10:00

Files already on a web host's disk (data_dir/uploads/<workspace>/<name>) are moved into
the configured store by `replyx migrate` / `replyx run` after this revision
(core/file_store.import_local_uploads), not here: the store may be S3.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("workspace_id", sa.Integer,
                  sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False, unique=True),
        sa.Column("size_bytes", sa.Integer, nullable=False, server_default="0"),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )
    op.create_index("ix_stored_files_workspace_id", "stored_files", ["workspace_id"])


def downgrade() -> None:
    op.drop_table("stored_files")
