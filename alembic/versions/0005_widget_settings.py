"""widget settings

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 09:00:00

- New table widget_settings: one row per assistant (title, colour, position, avatar,
  launcher text, language, allowed website origins, on/off) with a random public id
  (`wid_…`) that is the only identifier a tenant's website ever sees.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "widget_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("assistant_id", sa.Integer(), nullable=False),
        sa.Column("public_id", _S(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("title", _S(length=80), nullable=False),
        sa.Column("primary_color", _S(length=7), nullable=False),
        sa.Column("position", _S(length=8), nullable=False),
        sa.Column("avatar_url", _S(length=500), nullable=False),
        sa.Column("launcher_text", _S(length=40), nullable=False),
        sa.Column("language", _S(length=8), nullable=False),
        sa.Column("allowed_origins", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["assistant_id"], ["assistants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("assistant_id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index(op.f("ix_widget_settings_workspace_id"), "widget_settings",
                    ["workspace_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_widget_settings_workspace_id"), table_name="widget_settings")
    op.drop_table("widget_settings")
