"""Audit trail: who did what, from where. Written in the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core.principal import Principal
from backend_services.models import AuditLog


async def record(
    session: AsyncSession,
    action: str,
    *,
    workspace_id: int | None = None,
    actor_user_id: int | None = None,
    target: str = "",
    ip: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            action=action,
            workspace_id=workspace_id,
            actor_user_id=actor_user_id,
            target=target[:300],
            ip=ip[:64],
            details=details,
        )
    )


async def record_by(
    session: AsyncSession,
    principal: Principal,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    """The usual case: a signed-in user acting in their workspace."""
    await record(
        session,
        action,
        workspace_id=principal.workspace_id,
        actor_user_id=principal.user_id,
        target=target,
        ip=principal.ip,
        details=details,
    )
