"""live conversations: dialog lifecycle, AI usage per message, policies, canned, reads

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 08:00:00

- Dialogs carry their handoff timeline (requested / accepted / first human reply, the SLA
  seconds), the offline "collect contact" flag, who handled a rating, the failed-answers
  streak and a preview of the last visible message. A partial unique index keeps one open
  dialog per contact and assistant, so concurrent first messages cannot open two.
- Messages carry the usage of an AI answer (model, key, latency, mode, and the exact cost in
  micro-units with its currency; `cost_minor` keeps the rounded-up whole minor units).
- Handoff events say what kind of actor moved the dialog (user, visitor, system).
- New tables: handoff_policies (one JSON policy per assistant), canned_responses,
  dialog_reads (per operator read marks for unread counts).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from sqlalchemy.dialects import postgresql

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    for name in ("handoff_requested_at", "accepted_at", "first_human_reply_at",
                 "wait_expired_at"):
        op.add_column("dialogs", sa.Column(name, _TS, nullable=True))
    op.add_column("dialogs", sa.Column("handoff_reason", _S(length=300), nullable=False,
                                       server_default=""))
    op.add_column("dialogs", sa.Column("first_reply_seconds", sa.Integer(), nullable=True))
    op.add_column("dialogs", sa.Column("awaiting_contact", sa.Boolean(), nullable=False,
                                       server_default=sa.false()))
    op.add_column("dialogs", sa.Column("rated_handler", _S(length=8), nullable=False,
                                       server_default=""))
    op.add_column("dialogs", sa.Column("failed_in_row", sa.Integer(), nullable=False,
                                       server_default="0"))
    op.add_column("dialogs", sa.Column("last_message_id", sa.Integer(), nullable=True))
    op.add_column("dialogs", sa.Column("last_message_preview", _S(length=200), nullable=False,
                                       server_default=""))
    # Dialogs opened before this revision: close all but the newest open one per contact
    # and assistant, so the unique index below can be built.
    op.execute(
        """
        UPDATE dialogs d SET status = 'closed', closed_at = COALESCE(d.closed_at, now())
        WHERE d.status <> 'closed' AND EXISTS (
            SELECT 1 FROM dialogs n
            WHERE n.contact_id = d.contact_id AND n.assistant_id = d.assistant_id
              AND n.status <> 'closed' AND n.id > d.id)
        """
    )
    op.create_index("uq_dialogs_open_per_contact", "dialogs", ["contact_id", "assistant_id"],
                    unique=True, postgresql_where=sa.text("status <> 'closed'"))
    op.create_index("ix_dialogs_workspace_id_updated_at", "dialogs",
                    ["workspace_id", "updated_at"])

    op.add_column("messages", sa.Column("cost_micro", sa.BigInteger(), nullable=False,
                                        server_default="0"))
    op.add_column("messages", sa.Column("cost_currency", _S(length=3), nullable=False,
                                        server_default=""))
    op.add_column("messages", sa.Column("model", _S(length=120), nullable=False,
                                        server_default=""))
    op.add_column("messages", sa.Column("key_id", sa.Integer(), nullable=True))
    op.create_foreign_key("messages_key_id_fkey", "messages", "ai_provider_keys",
                          ["key_id"], ["id"], ondelete="SET NULL")
    op.add_column("messages", sa.Column("latency_ms", sa.Integer(), nullable=False,
                                        server_default="0"))
    op.add_column("messages", sa.Column("answer_mode", _S(length=16), nullable=False,
                                        server_default=""))

    op.add_column("handoff_events", sa.Column("actor", _S(length=16), nullable=False,
                                              server_default="system"))

    op.create_table(
        "handoff_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("assistant_id", sa.Integer(), nullable=False),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["assistant_id"], ["assistants.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("assistant_id"),
    )
    op.create_index(op.f("ix_handoff_policies_workspace_id"), "handoff_policies",
                    ["workspace_id"], unique=False)

    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("shortcut", _S(length=32), nullable=False),
        sa.Column("title", _S(length=120), nullable=False),
        sa.Column("body", _S(length=4000), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "shortcut"),
    )
    op.create_index(op.f("ix_canned_responses_workspace_id"), "canned_responses",
                    ["workspace_id"], unique=False)

    op.create_table(
        "dialog_reads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("dialog_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("last_read_message_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["dialog_id"], ["dialogs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dialog_id", "user_id"),
    )
    op.create_index(op.f("ix_dialog_reads_user_id"), "dialog_reads", ["user_id"],
                    unique=False)
    op.create_index(op.f("ix_dialog_reads_workspace_id"), "dialog_reads", ["workspace_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_dialog_reads_workspace_id"), table_name="dialog_reads")
    op.drop_index(op.f("ix_dialog_reads_user_id"), table_name="dialog_reads")
    op.drop_table("dialog_reads")
    op.drop_index(op.f("ix_canned_responses_workspace_id"), table_name="canned_responses")
    op.drop_table("canned_responses")
    op.drop_index(op.f("ix_handoff_policies_workspace_id"), table_name="handoff_policies")
    op.drop_table("handoff_policies")

    op.drop_column("handoff_events", "actor")

    op.drop_column("messages", "answer_mode")
    op.drop_column("messages", "latency_ms")
    op.drop_constraint("messages_key_id_fkey", "messages", type_="foreignkey")
    op.drop_column("messages", "key_id")
    op.drop_column("messages", "model")
    op.drop_column("messages", "cost_currency")
    op.drop_column("messages", "cost_micro")

    op.drop_index("ix_dialogs_workspace_id_updated_at", table_name="dialogs")
    op.drop_index("uq_dialogs_open_per_contact", table_name="dialogs")
    for name in ("last_message_preview", "last_message_id", "failed_in_row", "rated_handler",
                 "awaiting_contact", "first_reply_seconds", "handoff_reason",
                 "wait_expired_at", "first_human_reply_at", "accepted_at",
                 "handoff_requested_at"):
        op.drop_column("dialogs", name)
