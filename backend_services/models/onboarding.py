"""Steps a workspace has taken that no other table records (migration 0025)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field

from backend_services.models.base import TenantRow, created_at_field


class WorkspaceMilestone(TenantRow, table=True):
    """"The test chat was tried", "the widget was styled", "the checklist was hidden":
    once per workspace, so the Overview's checklist ticks what was done."""

    __tablename__ = "workspace_milestones"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
    name: str = Field(max_length=40)
    reached_at: datetime = created_at_field()
