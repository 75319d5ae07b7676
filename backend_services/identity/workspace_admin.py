"""Workspaces as the platform admin sees them: who is in each, what it runs and uses, and
blocking one.

Blocking stops a tenant without deleting anything: members cannot enter it (their sessions
move to another workspace of theirs or end, auth.authenticate), its widget answers as if
switched off (widget.settings.public_config) and its bots stop (the fleet reconciles on the
announcement below; channels.telegram.bots.fleet_bots leaves them out). Unblocking restores
all of it, since nothing was removed. Every change is audited with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.billing.money import format_money
from backend_services.channels.telegram.events import publish_fleet_changed
from backend_services.core import audit
from backend_services.core.db import session_scope, sql_rows
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.identity.access_events import publish_access_changed
from backend_services.identity.platform_settings import MIB
from backend_services.models import Channel, Membership, Workspace

REASON_MAX = 300


@dataclass(frozen=True)
class WorkspaceRow:
    id: int
    name: str
    created: str
    members: int
    assistants: int
    dialogs_30d: int
    messages_30d: int
    balance: str
    blocked: bool
    blocked_reason: str
    deleting: bool
    is_demo: bool


@dataclass(frozen=True)
class MemberLine:
    user_id: int
    email: str
    name: str
    role: str
    joined: str


@dataclass(frozen=True)
class AssistantLine:
    id: int
    name: str
    model: str
    active: bool
    dialogs_30d: int


@dataclass(frozen=True)
class WorkspaceDetail:
    row: WorkspaceRow
    members: list[MemberLine]
    assistants: list[AssistantLine]
    bots: int
    storage_used_mb: float
    storage_quota_mb: int


_ROWS = sa.text("""
SELECT w.id, w.name, w.created_at, w.is_demo, w.blocked_at, w.blocked_reason,
       w.deletion_requested_at, b.amount_minor, b.currency,
       (SELECT count(*) FROM memberships m WHERE m.workspace_id = w.id) AS members,
       (SELECT count(*) FROM assistants a WHERE a.workspace_id = w.id) AS assistants,
       (SELECT count(*) FROM dialogs d WHERE d.workspace_id = w.id
          AND d.created_at >= now() - interval '30 days') AS dialogs_30d,
       (SELECT count(*) FROM messages x WHERE x.workspace_id = w.id
          AND x.created_at >= now() - interval '30 days') AS messages_30d
FROM workspaces w LEFT JOIN balances b ON b.workspace_id = w.id
WHERE (:q = '' OR w.name ILIKE '%' || :q || '%' OR w.id::text = :q)
  AND (:only IS NULL OR w.id = :only)
ORDER BY w.id DESC
LIMIT :limit
""").bindparams(sa.bindparam("only", type_=sa.Integer))


def _row(r: sa.Row[tuple[object, ...]]) -> WorkspaceRow:
    m = r._mapping
    created: datetime = m["created_at"]
    return WorkspaceRow(
        id=int(m["id"]), name=str(m["name"]), created=created.strftime("%Y-%m-%d"),
        members=int(m["members"]), assistants=int(m["assistants"]),
        dialogs_30d=int(m["dialogs_30d"]), messages_30d=int(m["messages_30d"]),
        balance=(format_money(int(m["amount_minor"]), str(m["currency"]))
                 if m["amount_minor"] is not None else ""),
        blocked=m["blocked_at"] is not None, blocked_reason=str(m["blocked_reason"] or ""),
        deleting=m["deletion_requested_at"] is not None, is_demo=bool(m["is_demo"]),
    )


async def list_workspaces(principal: Principal, query: str = "",
                          limit: int = 200) -> list[WorkspaceRow]:
    principal.require_platform_admin()
    async with session_scope() as session:
        rows = await sql_rows(session, _ROWS, {"q": query.strip()[:100], "only": None,
                                               "limit": max(1, min(limit, 500))})
    return [_row(r) for r in rows]


async def workspace_detail(principal: Principal, workspace_id: int) -> WorkspaceDetail:
    principal.require_platform_admin()
    async with session_scope() as session:
        found = next(iter(await sql_rows(session, _ROWS, {"q": "", "only": int(workspace_id),
                                                          "limit": 1})), None)
        if found is None:
            raise NotFound("Workspace not found.")
        members = await sql_rows(session, sa.text("""
            SELECT u.id, u.email, u.name, m.role, m.created_at FROM memberships m
            JOIN users u ON u.id = m.user_id WHERE m.workspace_id = :w
            ORDER BY array_position(ARRAY['owner','admin','operator'], m.role::text), u.email
        """), {"w": int(workspace_id)})
        assistants = await sql_rows(session, sa.text("""
            SELECT a.id, a.name, a.model, a.is_active,
                   (SELECT count(*) FROM dialogs d WHERE d.assistant_id = a.id
                      AND d.created_at >= now() - interval '30 days')
            FROM assistants a WHERE a.workspace_id = :w ORDER BY a.name
        """), {"w": int(workspace_id)})
        bots = (await session.exec(select(sa.func.count()).select_from(Channel)
                                   .where(Channel.workspace_id == int(workspace_id)))).one()
        used = (await sql_rows(session, sa.text(
            "SELECT coalesce(sum(size_bytes), 0) FROM knowledge_documents WHERE workspace_id = :w"
        ), {"w": int(workspace_id)}))[0][0]
        ws = await session.get(Workspace, int(workspace_id))
        assert ws is not None
    return WorkspaceDetail(
        row=_row(found),
        members=[MemberLine(int(i), str(e), str(n), str(r), c.strftime("%Y-%m-%d"))
                 for i, e, n, r, c in members],
        assistants=[AssistantLine(int(i), str(n), str(m), bool(a), int(d))
                    for i, n, m, a, d in assistants],
        bots=int(bots), storage_used_mb=round(int(used) / MIB, 1),
        storage_quota_mb=ws.storage_quota_bytes // MIB,
    )


async def _locked(session: AsyncSession, workspace_id: int) -> Workspace:
    ws = await session.get(Workspace, int(workspace_id), with_for_update=True)
    if ws is None:
        raise NotFound("Workspace not found.")
    return ws


async def set_blocked(principal: Principal, workspace_id: int, blocked: bool,
                      reason: str = "") -> None:
    principal.require_platform_admin()
    reason = " ".join(reason.split())
    if blocked and not reason:
        raise ValidationFailed("Say why the workspace is blocked: its members will see it.")
    if len(reason) > REASON_MAX:
        raise ValidationFailed(f"The reason has at most {REASON_MAX} characters.")
    async with session_scope() as session:
        ws = await _locked(session, workspace_id)
        if (ws.blocked_at is not None) == blocked:
            return
        ws.blocked_at = datetime.now(UTC) if blocked else None
        ws.blocked_reason = reason if blocked else ""
        session.add(ws)
        await audit.record(session, "workspace_blocked" if blocked else "workspace_unblocked",
                           workspace_id=ws.id, actor_user_id=principal.user_id, ip=principal.ip,
                           target=f"workspace:{ws.id} {ws.name}",
                           details={"reason": reason} if blocked else None)
        members = list(await session.exec(select(Membership.user_id)
                                          .where(Membership.workspace_id == ws.id)))
        bots = list(await session.exec(select(Channel.id, Channel.version)
                                       .where(Channel.workspace_id == ws.id,
                                              col(Channel.is_active))))
    # After commit: open dashboards of its members re-check (and leave it), bots stop/start.
    for user_id in members:
        await publish_access_changed(user_id, workspace_id=int(workspace_id),
                                     reason="workspace_blocked" if blocked else "")
    for channel_id, version in bots:
        assert channel_id is not None
        await publish_fleet_changed(int(workspace_id), channel_id, "changed", version)


async def set_storage_quota(principal: Principal, workspace_id: int, megabytes: int) -> None:
    principal.require_platform_admin()
    if not 1 <= int(megabytes) <= 1_000_000:
        raise ValidationFailed("The storage quota is between 1 and 1,000,000 MB.")
    async with session_scope() as session:
        ws = await _locked(session, workspace_id)
        before = ws.storage_quota_bytes // MIB
        if before == int(megabytes):
            return
        ws.storage_quota_bytes = int(megabytes) * MIB
        session.add(ws)
        await audit.record(session, "workspace_quota_changed", workspace_id=ws.id,
                           actor_user_id=principal.user_id, ip=principal.ip,
                           target=f"workspace:{ws.id} {ws.name}",
                           details={"from_mb": before, "to_mb": int(megabytes)})
