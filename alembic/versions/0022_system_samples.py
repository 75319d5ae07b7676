"""system samples: hourly sizes of tables, the database and Valkey, for growth charts

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 23:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "system_samples",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("metric", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False, server_default=""),
        sa.Column("value", sa.Float, nullable=False, server_default="0"),
    )
    op.create_index("ix_system_samples_metric_taken_at", "system_samples",
                    ["metric", "taken_at"])


def downgrade() -> None:
    op.drop_table("system_samples")
