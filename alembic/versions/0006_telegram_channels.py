"""telegram channels

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 09:00:00

- channels: username (the bot's @username, shown instead of any token), mode ("polling"
  or "webhook"), version (grows on every change so a fleet worker knows to restart the
  bot) and updated_at. `is_active` keeps its meaning: the desired state (running or
  stopped) the tenant chose.
- A bot is connected at most once: unique (kind, external_id) where external_id is set.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("channels", sa.Column("username", _S(length=64), nullable=False,
                                        server_default=""))
    op.add_column("channels", sa.Column("mode", _S(length=16), nullable=False,
                                        server_default="polling"))
    op.add_column("channels", sa.Column("version", sa.Integer(), nullable=False,
                                        server_default="1"))
    op.add_column("channels", sa.Column("updated_at", _TS, nullable=True))
    op.create_index("uq_channels_kind_external_id", "channels", ["kind", "external_id"],
                    unique=True, postgresql_where=sa.text("external_id <> ''"))


def downgrade() -> None:
    op.drop_index("uq_channels_kind_external_id", table_name="channels")
    op.drop_column("channels", "updated_at")
    op.drop_column("channels", "version")
    op.drop_column("channels", "mode")
    op.drop_column("channels", "username")
