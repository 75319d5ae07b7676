"""Every tenant's Telegram bots as the platform admin sees them on the System page, with
stop, start and restart.

The admin acts through the same functions a tenant admin uses (bots.set_desired,
bots.restart), with a principal scoped to the bot's own workspace and marked as platform
staff: the fleet is told the same way, the change is audited in that workspace, and its
owner's audit log shows "Platform administrator" as who did it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlmodel import col, func, or_, select

from backend_services.channels.telegram import bots
from backend_services.channels.telegram import status as bot_status
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound
from backend_services.core.principal import Principal
from backend_services.models import Channel, Role, Workspace

PAGE_SIZE = 50


@dataclass(frozen=True)
class FleetBotRow:
    id: int
    workspace_id: int
    workspace: str
    username: str
    mode: str
    desired: str
    status: str
    error: str
    worker: str
    last_activity: datetime | None
    messages_today: int


@dataclass(frozen=True)
class FleetBotPage:
    rows: list[FleetBotRow]
    total: int  # bots matching the search
    by_status: dict[str, int]  # every bot of the platform by shown status


async def list_bots(principal: Principal, query: str = "", page: int = 0) -> FleetBotPage:
    """A page of bots across workspaces (search by @username or workspace name), and how
    many of all bots are running, stopped, failing or offline."""
    principal.require_platform_admin()
    conditions: list[ColumnElement[bool]] = [col(Channel.kind) == bots.KIND]
    if query.strip():
        wanted = query.strip().lstrip("@")
        conditions.append(or_(col(Channel.username).icontains(wanted, autoescape=True),
                              col(Workspace.name).icontains(wanted, autoescape=True)))
    async with session_scope() as session:
        every = list(await session.exec(
            select(Channel.id, Channel.is_active, Channel.version)
            .where(Channel.kind == bots.KIND)))
        total = (await session.exec(
            select(func.count()).select_from(Channel)
            .join(Workspace, col(Workspace.id) == col(Channel.workspace_id))
            .where(*conditions))).one()
        shown = list(await session.exec(
            select(Channel, Workspace.name)
            .join(Workspace, col(Workspace.id) == col(Channel.workspace_id))
            .where(*conditions)
            .order_by(col(Workspace.name), col(Channel.id))
            .offset(max(0, page) * PAGE_SIZE).limit(PAGE_SIZE)))
    statuses = await bot_status.statuses([int(i) for i, _, _ in every if i is not None])
    by_status: Counter[str] = Counter(
        bots.display_status(active, version, statuses.get(int(i or 0)))[0]
        for i, active, version in every)
    rows = []
    for row, workspace_name in shown:
        assert row.id is not None
        st = statuses.get(row.id)
        status, error = bots.display_status(row.is_active, row.version, st)
        rows.append(FleetBotRow(
            id=row.id, workspace_id=row.workspace_id, workspace=workspace_name,
            username=row.username, mode=row.mode,
            desired="running" if row.is_active else "stopped", status=status, error=error,
            worker=st.worker if st else "", last_activity=st.last_activity if st else None,
            messages_today=st.messages_today if st else 0))
    return FleetBotPage(rows, int(total), dict(by_status))


async def _as_staff_in(principal: Principal, channel_id: int) -> Principal:
    principal.require_platform_admin()
    async with session_scope() as session:
        row = await session.get(Channel, int(channel_id))
    if row is None or row.kind != bots.KIND:
        raise NotFound(bots.BOT_NOT_FOUND)
    return Principal(user_id=principal.user_id, workspace_id=row.workspace_id,
                     role=Role.OWNER, is_platform_admin=True, email=principal.email,
                     name=principal.name, ip=principal.ip)


async def set_running(principal: Principal, channel_id: int, running: bool) -> None:
    staff = await _as_staff_in(principal, channel_id)
    await bots.set_desired(staff, channel_id, "running" if running else "stopped")


async def restart(principal: Principal, channel_id: int) -> None:
    staff = await _as_staff_in(principal, channel_id)
    await bots.restart(staff, channel_id)
