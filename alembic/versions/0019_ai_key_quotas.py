"""AI provider keys: priority, daily and monthly token quotas, the last error

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 21:00:00

- priority: lower is tried first; keys of one priority share the load (least recently
  used first), as before.
- daily_token_quota / monthly_token_quota: tokens a key may spend per UTC day / calendar
  month (0: no quota); a key past one is skipped like one at its per-minute limit.
- last_error / last_error_at: what the provider said the last time it failed, for the
  admin panel and /api/health.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("ai_provider_keys", sa.Column("priority", sa.Integer, nullable=False,
                                                server_default="100"))
    op.add_column("ai_provider_keys", sa.Column("daily_token_quota", sa.BigInteger,
                                                nullable=False, server_default="0"))
    op.add_column("ai_provider_keys", sa.Column("monthly_token_quota", sa.BigInteger,
                                                nullable=False, server_default="0"))
    op.add_column("ai_provider_keys", sa.Column("last_error", sa.String(length=300),
                                                nullable=False, server_default=""))
    op.add_column("ai_provider_keys", sa.Column("last_error_at", sa.DateTime(timezone=True),
                                                nullable=True))


def downgrade() -> None:
    for column in ("last_error_at", "last_error", "monthly_token_quota", "daily_token_quota",
                   "priority"):
        op.drop_column("ai_provider_keys", column)
