"""A platform admin's correction of a workspace's balance: with a written reason, audited,
and shown in that workspace's ledger like any other entry. The only way besides a verified
payment that a balance grows; nothing a tenant sends can do it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.billing import ledger
from backend_services.billing.ledger import Kind, Posted
from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Balance, Workspace

MIN_REASON = 5


async def adjust(principal: Principal, workspace_id: int, amount_minor: int,
                 reason: str) -> Posted:
    """Add (or, negative, take away) `amount_minor`; a take-away stops at zero."""
    principal.require_platform_admin()
    reason = " ".join(reason.split())
    if len(reason) < MIN_REASON:
        raise ValidationFailed("Write why the balance is changed (it is shown to the "
                               "workspace and kept in the audit log).")
    if amount_minor == 0:
        raise ValidationFailed("The amount cannot be zero.")
    async with session_scope() as session:
        if await session.get(Workspace, workspace_id) is None:
            raise NotFound("That workspace was not found.")
        posted = await ledger.post(
            session, workspace_id, amount_minor, Kind.ADJUSTMENT,
            f"adjust:{uuid.uuid4().hex}", reference=reason[:300],
            actor_user_id=principal.user_id, details={"reason": reason[:1000]})
        assert posted is not None  # any currency: an adjustment is in the balance's own
        await audit.record(session, "balance_adjusted", workspace_id=workspace_id,
                           actor_user_id=principal.user_id, target=f"ledger:{posted.entry_id}",
                           ip=principal.ip,
                           details={"amount_minor": posted.amount_minor,
                                    "asked_minor": amount_minor, "reason": reason[:1000]})
    return posted


@dataclass(frozen=True)
class WorkspaceBalance:
    workspace_id: int
    name: str
    balance_minor: int
    currency: str


async def balances(principal: Principal, search: str = "",
                   limit: int = 50) -> list[WorkspaceBalance]:
    """Workspaces with their balances for the admin panel, lowest balance first."""
    principal.require_platform_admin()
    query = (select(Workspace.id, Workspace.name, Balance.amount_minor, Balance.currency)
             .join(Balance, col(Balance.workspace_id) == col(Workspace.id), isouter=True)
             .order_by(sa.func.coalesce(col(Balance.amount_minor), 0), col(Workspace.id))
             .limit(limit))
    term = search.strip()
    if term:
        if term.isdigit():
            query = query.where(col(Workspace.id) == int(term))
        else:
            query = query.where(col(Workspace.name).ilike(f"%{term}%"))
    async with session_scope() as session:
        rows = (await session.exec(query)).all()
    return [WorkspaceBalance(int(r[0] or 0), r[1], int(r[2] or 0), r[3] or "") for r in rows]
