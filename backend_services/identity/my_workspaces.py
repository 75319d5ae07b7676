"""The workspaces a person belongs to, and which one their session is in.

A session (one login in one browser) is in exactly one workspace at a time: the
`sessions.workspace_id` every request re-reads. Switching moves that one row after a
membership check, so the workspace still comes only from the server side and a crafted
event can name another workspace's objects but never act in it. Other tabs of the same
browser share the session: they follow the switch, and their live links (made under the
old workspace) are revoked through the same access event as a removal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core import audit
from backend_services.core.db import session_scope, sql_rows
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.identity import platform_settings
from backend_services.identity.access_events import publish_access_changed
from backend_services.identity.workspaces import create_workspace
from backend_services.models import Membership, Role, UserSession, Workspace

NAME_MAX = 120


@dataclass(frozen=True)
class WorkspaceChoice:
    id: int
    name: str
    role: str
    current: bool
    deleting: bool  # an owner asked to delete it; it still works until then
    blocked: bool = False  # a platform admin blocked it: listed, not enterable


def clean_name(raw: str) -> str:
    name = " ".join(raw.split())
    if not name:
        raise ValidationFailed("Enter the workspace's name.")
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"A workspace name has at most {NAME_MAX} characters.")
    return name


async def list_mine(principal: Principal) -> list[WorkspaceChoice]:
    """Every workspace this person belongs to, by name; the session's one marked."""
    async with session_scope() as session:
        rows = await sql_rows(session,
            sa.select(col(Membership.workspace_id), col(Workspace.name), col(Membership.role),
                      col(Workspace.deletion_requested_at), col(Workspace.blocked_at))
            .join(Membership, col(Membership.workspace_id) == col(Workspace.id))
            .where(col(Membership.user_id) == principal.user_id)
            .order_by(sa.func.lower(Workspace.name), col(Workspace.id)))
    return [WorkspaceChoice(id=int(i), name=n, role=r, current=i == principal.workspace_id,
                            deleting=d is not None, blocked=b is not None)
            for i, n, r, d, b in rows]


async def _move_session(session: AsyncSession, principal: Principal, workspace_id: int) -> None:
    moved = (await session.exec(  # type: ignore[call-overload]
        sa.update(UserSession)
        .where(col(UserSession.id_hash) == principal.session_key,
               col(UserSession.user_id) == principal.user_id,
               col(UserSession.revoked_at).is_(None))
        .values(workspace_id=workspace_id)
        .returning(col(UserSession.id_hash)))).first()
    if moved is None:
        raise NotFound("Your session has ended. Please sign in again.")


async def switch(principal: Principal, workspace_id: int) -> str:
    """Move this session into another workspace of this person; returns its name."""
    if workspace_id == principal.workspace_id:
        return principal.workspace_name
    async with session_scope() as session:
        row = (await session.exec(
            select(Membership, Workspace.name, Workspace.blocked_reason, Workspace.blocked_at)
            .join(Workspace, col(Workspace.id) == col(Membership.workspace_id))
            .where(Membership.user_id == principal.user_id,
                   Membership.workspace_id == int(workspace_id)))).first()
        if row is None:  # not theirs, or gone: the same answer either way
            raise NotFound("Workspace not found.")
        if row[3] is not None:
            raise PermissionDenied(blocked_message(row[2]))
        await _move_session(session, principal, int(workspace_id))
        await audit.record(session, "workspace_switched", workspace_id=int(workspace_id),
                           actor_user_id=principal.user_id, ip=principal.ip,
                           details={"from": principal.workspace_id})
        name = row[1]
    await publish_access_changed(principal.user_id, workspace_id=principal.workspace_id,
                                 reason="workspace_switched")
    return str(name)


async def create(principal: Principal, raw_name: str) -> int:
    """A new workspace owned by this person, and this session moved into it. It starts
    with no welcome bonus: that comes once, with the account."""
    name = clean_name(raw_name)
    async with session_scope() as session:
        limit = (await platform_settings.read(session)).workspaces_per_person
        owned = (await session.exec(
            select(sa.func.count()).select_from(Membership)
            .where(Membership.user_id == principal.user_id,
                   Membership.role == Role.OWNER.value))).one()
        if int(owned) >= limit:
            raise ValidationFailed(f"You already own {owned} workspaces, the most one person "
                                   "may own here. Delete one you no longer need, or ask the "
                                   "platform administrator.")
        workspace_id = await create_workspace(session, name=name,
                                              owner_user_id=principal.user_id,
                                              welcome_bonus=False)
        await _move_session(session, principal, workspace_id)
        await audit.record(session, "workspace_created", workspace_id=workspace_id,
                           actor_user_id=principal.user_id, target=name, ip=principal.ip)
    await publish_access_changed(principal.user_id, workspace_id=principal.workspace_id,
                                 reason="workspace_switched")
    return workspace_id


async def rename(principal: Principal, raw_name: str) -> str:
    principal.require(Role.OWNER)
    name = clean_name(raw_name)
    async with session_scope() as session:
        workspace = await session.get(Workspace, principal.workspace_id, with_for_update=True)
        if workspace is None:
            raise NotFound("Workspace not found.")
        old, workspace.name = workspace.name, name
        session.add(workspace)
        await audit.record_by(session, principal, "workspace_renamed", name,
                              details={"from": old})
    return name


def blocked_message(reason: str) -> str:
    why = f" Reason: {reason}" if reason else ""
    return f"This workspace is blocked by the platform administrator.{why}"


def _not_blocked() -> Any:
    """Memberships of workspaces a platform admin has not blocked."""
    return ~sa.exists().where(col(Workspace.id) == col(Membership.workspace_id),
                              col(Workspace.blocked_at).is_not(None))


async def last_used_membership(session: AsyncSession, user_id: int) -> Membership | None:
    """Where a new login starts: the workspace this person was last active in (by their
    sessions), else the one they joined first."""
    last_seen = (
        select(sa.func.max(UserSession.last_seen_at))
        .where(col(UserSession.user_id) == col(Membership.user_id),
               col(UserSession.workspace_id) == col(Membership.workspace_id))
        .correlate(Membership)
        .scalar_subquery()
    )
    return (await session.exec(
        select(Membership).where(Membership.user_id == user_id, _not_blocked())
        .order_by(last_seen.desc().nulls_last(), col(Membership.id)))).first()


async def move_to_any_other(session: AsyncSession, session_hash: str, user_id: int,
                            gone_workspace_id: int) -> bool:
    """A session whose workspace this person no longer belongs to moves to another of
    theirs, when there is one (True), instead of ending the login."""
    other = (await session.exec(
        select(Membership.workspace_id).where(Membership.user_id == user_id,
                                              Membership.workspace_id != gone_workspace_id,
                                              _not_blocked())
        .order_by(col(Membership.id)))).first()
    if other is None:
        return False
    await session.exec(sa.update(UserSession)  # type: ignore[call-overload]
                       .where(col(UserSession.id_hash) == session_hash)
                       .values(workspace_id=int(other), last_seen_at=datetime.now(UTC)))
    return True
