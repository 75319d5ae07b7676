"""outgoing webhooks: endpoints per workspace and every delivery with its answer

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 21:20:00

- webhook_endpoints: URL, signing secret (encrypted), events, active, how far its events
  have been collected.
- webhook_deliveries: one row per event and endpoint (unique), stored before sending;
  attempts, next attempt, the receiver's last status and answer.
- dialogs.rated_at: when the latest rating came (the rating event).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _workspace() -> sa.Column[int]:
    return sa.Column("workspace_id", sa.Integer,
                     sa.ForeignKey("workspaces.id", ondelete="CASCADE"), nullable=False)


def _now(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False,
                     server_default=sa.func.now())


def upgrade() -> None:
    op.add_column("dialogs", sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer, primary_key=True),
        _workspace(),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False, server_default=""),
        sa.Column("secret_encrypted", sa.String, nullable=False),
        sa.Column("events", JSONB, nullable=False),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        _now("created_at"),
        _now("scanned_until"),
    )
    op.create_index("ix_webhook_endpoints_workspace_id", "webhook_endpoints", ["workspace_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        _workspace(),
        sa.Column("endpoint_id", sa.Integer,
                  sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False),
        sa.Column("event_id", sa.String(length=120), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("payload", JSONB, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _now("next_attempt_at"),
        sa.Column("last_status_code", sa.Integer, nullable=True),
        sa.Column("last_response", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("last_error", sa.String(length=300), nullable=False, server_default=""),
        _now("created_at"),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("endpoint_id", "event_id"),
    )
    op.create_index("ix_webhook_deliveries_workspace_id", "webhook_deliveries",
                    ["workspace_id"])
    op.create_index("ix_webhook_deliveries_endpoint_id", "webhook_deliveries", ["endpoint_id"])
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries",
                    ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
    op.drop_column("dialogs", "rated_at")
