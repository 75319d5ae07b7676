"""workspaces and accounts: deleting a workspace after a grace period, changing e-mail,
deleting one's account

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 16:00:00

- workspaces: when an owner asked to delete it, and when it goes.
- users: when the person deleted their account (the row stays, scrubbed).
- auth_tokens: a payload (the new address of an e-mail change).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("workspaces", sa.Column("deletion_requested_at", sa.DateTime(timezone=True),
                                          nullable=True))
    op.add_column("workspaces", sa.Column("delete_after", sa.DateTime(timezone=True),
                                          nullable=True))
    op.add_column("users", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("auth_tokens", sa.Column("payload", sa.String(length=254), nullable=False,
                                           server_default=""))


def downgrade() -> None:
    op.drop_column("auth_tokens", "payload")
    op.drop_column("users", "deleted_at")
    op.drop_column("workspaces", "delete_after")
    op.drop_column("workspaces", "deletion_requested_at")
