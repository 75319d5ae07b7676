"""notifications: requests written with what happened, per-person choices, deliveries

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 14:00:00

- notification_requests: one per thing to tell (unique key per workspace), written by
  core.notify in the transaction of the event.
- notification_settings: a person's e-mail choice per event and workspace.
- notification_deliveries: one e-mail owed to one person per request (unique), with its
  retries and the digest that carried it.
- users.language: the language of a person's e-mails.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _workspace() -> sa.Column[int]:
    return sa.Column("workspace_id", sa.Integer(),
                     sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "notification_requests",
        sa.Column("id", sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("context", JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.Column("expanded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=80), nullable=False, server_default=""),
        sa.UniqueConstraint("workspace_id", "key"),
    )
    op.create_index("ix_notification_requests_workspace_id", "notification_requests",
                    ["workspace_id"])
    op.create_index("ix_notification_requests_pending", "notification_requests", ["id"],
                    postgresql_where=sa.text("expanded_at IS NULL"))
    op.create_table(
        "notification_settings",
        sa.Column("id", sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("email", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("workspace_id", "user_id", "event"),
    )
    op.create_index("ix_notification_settings_workspace_id", "notification_settings",
                    ["workspace_id"])
    op.create_index("ix_notification_settings_user_id", "notification_settings", ["user_id"])
    op.create_table(
        "notification_deliveries",
        sa.Column("id", sa.Integer(), primary_key=True),
        _workspace(),
        sa.Column("request_id", sa.Integer(),
                  sa.ForeignKey("notification_requests.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_try_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("digest_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=sa.func.now()),
        sa.UniqueConstraint("request_id", "user_id"),
    )
    op.create_index("ix_notification_deliveries_workspace_id", "notification_deliveries",
                    ["workspace_id"])
    op.create_index("ix_notification_deliveries_due", "notification_deliveries",
                    ["next_try_at"], postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_notification_deliveries_user_event_sent", "notification_deliveries",
                    ["user_id", "event", "sent_at"])
    op.add_column("users", sa.Column("language", sa.String(length=8), nullable=False,
                                     server_default="en"))


def downgrade() -> None:
    op.drop_column("users", "language")
    op.drop_table("notification_deliveries")
    op.drop_table("notification_settings")
    op.drop_table("notification_requests")
