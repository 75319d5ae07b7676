"""platform admin: blocked workspaces and platform settings stored in the database

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:20:00

- workspaces: blocked by a platform admin (when, why). A blocked workspace's members cannot
  enter it, its widget and bots stop answering; its data stays.
- platform_settings: one row per setting (sign-up mode, limits for new workspaces), edited
  in the admin panel, read by the services that apply them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("blocked_at", sa.DateTime(timezone=True),
                                          nullable=True))
    op.add_column("workspaces", sa.Column("blocked_reason", sa.String(length=300),
                                          nullable=False, server_default=""))
    op.create_table(
        "platform_settings",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("value", JSONB, nullable=False),
        sa.Column("updated_by", sa.Integer,
                  sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("platform_settings")
    op.drop_column("workspaces", "blocked_reason")
    op.drop_column("workspaces", "blocked_at")
