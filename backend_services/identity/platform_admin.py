"""Platform administration: accounts across workspaces, blocking, the global audit log."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.identity.access_events import publish_access_changed
from backend_services.identity.auth import revoke_user_sessions
from backend_services.models import Membership, User, Workspace


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    confirmed: bool
    blocked: bool
    platform_admin: bool
    created: str
    last_login: str
    workspaces: str  # "Acme (owner), Beta (operator)"


async def list_users(principal: Principal, query: str = "", limit: int = 200) -> list[UserRow]:
    """Newest first; the query matches part of the e-mail or the name."""
    principal.require_platform_admin()
    q = query.strip()[:100]
    async with session_scope() as session:
        stmt = (select(User).where(col(User.deleted_at).is_(None))
                .order_by(col(User.id).desc()).limit(limit))
        if q:
            stmt = stmt.where(col(User.email).ilike(f"%{q}%") | col(User.name).ilike(f"%{q}%"))
        users = list(await session.exec(stmt))
        memberships = (await session.exec(
            select(Membership.user_id, Workspace.name, Membership.role)
            .join(Workspace, col(Workspace.id) == col(Membership.workspace_id))
            .where(col(Membership.user_id).in_([u.id for u in users]))
            .order_by(col(Workspace.name)))).all()
    where: dict[int, list[str]] = {}
    for user_id, name, role in memberships:
        where.setdefault(user_id, []).append(f"{name} ({role})")
    return [
        UserRow(
            id=u.id or 0,
            email=u.email,
            name=u.name,
            confirmed=u.email_confirmed_at is not None,
            blocked=u.is_blocked,
            platform_admin=u.is_platform_admin,
            created=u.created_at.strftime("%Y-%m-%d"),
            last_login=u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "",
            workspaces=", ".join(where.get(u.id or 0, [])),
        )
        for u in users
    ]


async def set_blocked(principal: Principal, user_id: int, blocked: bool) -> None:
    """Blocking ends every session of the account at once."""
    principal.require_platform_admin()
    if user_id == principal.user_id:
        raise ValidationFailed("You cannot block yourself.")
    async with session_scope() as session:
        user = await session.get(User, user_id, with_for_update=True)
        if user is None:
            raise NotFound("User not found.")
        user.is_blocked = blocked
        session.add(user)
        if blocked:
            await revoke_user_sessions(session, user_id)
        await audit.record(
            session,
            "user_blocked" if blocked else "user_unblocked",
            actor_user_id=principal.user_id,
            target=f"user:{user_id}",
            ip=principal.ip,
        )
    if blocked:
        await publish_access_changed(user_id, reason="blocked")


async def set_platform_admin(principal: Principal, user_id: int, granted: bool) -> None:
    """Grant or revoke the run of the whole platform. One's own cannot be revoked, so the
    platform always keeps an administrator."""
    principal.require_platform_admin()
    if user_id == principal.user_id and not granted:
        raise ValidationFailed("You cannot revoke your own platform administration; ask "
                               "another administrator.")
    async with session_scope() as session:
        user = await session.get(User, user_id, with_for_update=True)
        if user is None or user.deleted_at is not None:
            raise NotFound("User not found.")
        if user.is_platform_admin == granted:
            return
        if granted and (user.is_blocked or user.email_confirmed_at is None):
            raise ValidationFailed("Only a confirmed, unblocked account can become a "
                                   "platform administrator.")
        user.is_platform_admin = granted
        session.add(user)
        await audit.record(
            session,
            "platform_admin_granted" if granted else "platform_admin_revoked",
            actor_user_id=principal.user_id,
            target=f"user:{user_id} {user.email}",
            ip=principal.ip,
        )
    # Their open admin pages re-check at once (a revoked admin's panel closes).
    await publish_access_changed(user_id, reason="platform_admin_changed")
