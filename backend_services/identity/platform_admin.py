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
from backend_services.models import AuditLog, User


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    confirmed: bool
    blocked: bool
    platform_admin: bool
    created: str


async def list_users(principal: Principal, query: str = "", limit: int = 200) -> list[UserRow]:
    principal.require_platform_admin()
    async with session_scope() as session:
        stmt = select(User).order_by(col(User.id).desc()).limit(limit)
        if query.strip():
            stmt = stmt.where(col(User.email).ilike(f"%{query.strip()}%"))
        rows = await session.exec(stmt)
        return [
            UserRow(
                id=u.id or 0,
                email=u.email,
                name=u.name,
                confirmed=u.email_confirmed_at is not None,
                blocked=u.is_blocked,
                platform_admin=u.is_platform_admin,
                created=u.created_at.strftime("%Y-%m-%d"),
            )
            for u in rows
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


async def audit_log(principal: Principal, limit: int = 100) -> list[AuditLog]:
    principal.require_platform_admin()
    async with session_scope() as session:
        return await audit.recent(session, limit)
