"""Roll-ups the Analytics page reads instead of scanning messages (migration 0013).

Both are derived data, rebuilt from the conversation and billing tables by
analytics.rollup (the jobs process, every minute): dropping them loses nothing.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from backend_services.models.base import parent_fk, workspace_fk


class DialogFacts(SQLModel, table=True):
    """One conversation as the reports see it: when it started, where, how it was handled
    and how fast, how it was rated, and the question it opened with."""

    __tablename__ = "analytics_dialogs"
    __table_args__ = (
        sa.Index("ix_analytics_dialogs_workspace_id_created_at", "workspace_id", "created_at"),
    )
    dialog_id: int = Field(primary_key=True, foreign_key="dialogs.id", ondelete="CASCADE")
    workspace_id: int = workspace_fk()
    assistant_id: int = parent_fk("assistants", index=False)
    channel: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    handed: bool = Field(default=False)
    ai_first_seconds: float | None = Field(default=None)
    human_first_seconds: int | None = Field(default=None)
    resolution_seconds: float | None = Field(default=None)
    rating: int | None = Field(default=None)
    rated_handler: str = Field(default="", max_length=8)
    # The opening question (analytics.questions), read once; its embedding for grouping.
    question_read: bool = Field(default=False)
    question: str = Field(default="", max_length=500)
    question_vector: bytes | None = Field(default=None, sa_type=sa.LargeBinary)  # type: ignore[call-overload]
    question_embedder: str = Field(default="", max_length=80)


class HourCounts(SQLModel, table=True):
    """Per workspace, assistant, channel and UTC hour: messages by who wrote them, AI
    answers that did not answer, and what the AI's answers were charged."""

    __tablename__ = "analytics_hours"
    workspace_id: int = Field(primary_key=True, foreign_key="workspaces.id",
                              ondelete="CASCADE")
    assistant_id: int = Field(primary_key=True)  # 0: charges with no conversation
    channel: str = Field(primary_key=True, max_length=16)
    hour: datetime = Field(primary_key=True, sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
    visitor: int = Field(default=0)
    ai: int = Field(default=0)
    operator: int = Field(default=0)
    weak_answers: int = Field(default=0)
    answers_charged: int = Field(default=0)
    ai_cost_minor: int = Field(default=0, sa_type=sa.BigInteger)  # type: ignore[call-overload]


class RollupMark(SQLModel, table=True):
    """How far a roll-up has read: it re-reads from a little before this each run."""

    __tablename__ = "analytics_marks"
    name: str = Field(primary_key=True, max_length=32)
    read_until: datetime = Field(sa_type=sa.DateTime(timezone=True))  # type: ignore[call-overload]
