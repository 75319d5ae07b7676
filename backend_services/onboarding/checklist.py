"""The Overview's checklist for a new workspace: from nothing to a live widget, in the
order a tenant meets the product.

Most steps tick themselves from what exists (an assistant, knowledge that is ready, a
widget visitor, a Telegram bot, a second member or an invitation out). Two leave no row of
their own — trying the test chat, saving the widget's look — so they are recorded as
milestones when they happen; hiding the checklist is one too.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core.db import session_scope, sql_rows
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role, WorkspaceMilestone

TEST_CHAT = "test_chat"
WIDGET_STYLED = "widget_styled"
HIDDEN = "checklist_hidden"
MILESTONES = (TEST_CHAT, WIDGET_STYLED, HIDDEN)

# (step, the page that does it), in the order they are shown.
STEPS: tuple[tuple[str, str], ...] = (
    ("assistant", "/assistants"),
    ("knowledge", "/knowledge"),
    ("test_chat", "/knowledge"),
    ("widget_style", "/widget-settings"),
    ("widget_live", "/widget-settings"),
    ("telegram", "/channels"),
    ("operator", "/team"),
)

_FACTS = sa.text("""
SELECT
  EXISTS (SELECT 1 FROM assistants WHERE workspace_id = :w) AS assistant,
  EXISTS (SELECT 1 FROM knowledge_documents WHERE workspace_id = :w AND status = 'ready')
    OR EXISTS (SELECT 1 FROM qa_pairs WHERE workspace_id = :w) AS knowledge,
  EXISTS (SELECT 1 FROM workspace_milestones WHERE workspace_id = :w AND name = :chat)
    AS test_chat,
  EXISTS (SELECT 1 FROM workspace_milestones WHERE workspace_id = :w AND name = :styled)
    AS widget_style,
  EXISTS (SELECT 1 FROM contacts WHERE workspace_id = :w AND kind = 'widget')
    AS widget_live,
  EXISTS (SELECT 1 FROM channels WHERE workspace_id = :w AND kind = 'telegram') AS telegram,
  (SELECT count(*) FROM memberships WHERE workspace_id = :w) > 1
    OR EXISTS (SELECT 1 FROM invitations WHERE workspace_id = :w AND revoked_at IS NULL)
    AS operator,
  EXISTS (SELECT 1 FROM workspace_milestones WHERE workspace_id = :w AND name = :hidden)
    AS hidden
""")


@dataclass(frozen=True)
class Step:
    name: str  # the catalogue's key stem: ui.onboarding.<name>(.note)
    href: str
    done: bool


@dataclass(frozen=True)
class Checklist:
    steps: list[Step]
    hidden: bool

    @property
    def done(self) -> int:
        return sum(s.done for s in self.steps)

    @property
    def complete(self) -> bool:
        return self.done == len(self.steps)


async def checklist(principal: Principal) -> Checklist:
    async with session_scope() as session:
        row = (await sql_rows(session, _FACTS, {
            "w": principal.workspace_id, "chat": TEST_CHAT, "styled": WIDGET_STYLED,
            "hidden": HIDDEN}))[0]
    return Checklist([Step(name, href, bool(getattr(row, name))) for name, href in STEPS],
                     hidden=bool(row.hidden))


async def record(session: AsyncSession, workspace_id: int, name: str) -> None:
    """Note a milestone in the caller's transaction (once; later calls change nothing)."""
    if name not in MILESTONES:
        raise ValidationFailed(f"Unknown milestone: {name}")
    await session.exec(insert(WorkspaceMilestone)  # type: ignore[call-overload]
                       .values(workspace_id=workspace_id, name=name)
                       .on_conflict_do_nothing(index_elements=["workspace_id", "name"]))


async def reach(principal: Principal, name: str) -> None:
    async with session_scope() as session:
        await record(session, principal.workspace_id, name)


async def hide(principal: Principal) -> None:
    """The owner or an admin hides the checklist for the whole workspace."""
    principal.require(Role.ADMIN)
    await reach(principal, HIDDEN)


async def signed_in_before(principal: Principal) -> bool:
    """Whether this person had a login before this one (the Overview says "Welcome back"
    only then; ended logins are kept 30 days, so a long absence reads as a first visit)."""
    async with session_scope() as session:
        rows = await sql_rows(session, sa.text(
            "SELECT count(*) AS n FROM sessions WHERE user_id = :u"), {"u": principal.user_id})
    return int(rows[0].n) > 1
