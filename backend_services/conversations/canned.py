"""Canned responses: a workspace's saved replies, picked in the console by shortcut.

Operators read them; admins and owners write them (audited). A shortcut is unique within
the workspace and typed as "/shortcut", so it is kept to lowercase letters, digits, "-"
and "_" (any language's letters: "/возврат" works).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.conversations.store import now
from backend_services.core import audit
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.scoped import in_workspace
from backend_services.core.views import view_from
from backend_services.models import Role
from backend_services.models.conversations import CannedResponse

_SHORTCUT = re.compile(r"^[\w-]{1,32}$")
MAX_PER_WORKSPACE = 500


@dataclass(frozen=True)
class CannedView:
    id: int
    shortcut: str
    title: str
    body: str


def _view(row: CannedResponse) -> CannedView:
    return view_from(CannedView, row, id=row.id or 0)


def _clean(shortcut: str, title: str, body: str) -> tuple[str, str, str]:
    shortcut = shortcut.strip().lstrip("/").lower()
    if not _SHORTCUT.match(shortcut):
        raise ValidationFailed("A shortcut is 1–32 letters, digits, “-” or “_”, e.g. refund.")
    title = " ".join(title.split())
    if len(title) > 120:
        raise ValidationFailed("The title is too long (120 characters at most).")
    body = body.strip()
    if not body:
        raise ValidationFailed("Write the reply text.")
    if len(body) > 4000:
        raise ValidationFailed("The reply is too long (4,000 characters at most).")
    return shortcut, title, body


async def list_canned(principal: Principal, query: str = "") -> list[CannedView]:
    """The workspace's responses by shortcut; `query` filters by shortcut or title."""
    principal.require(Role.OPERATOR)
    stmt = select(CannedResponse).where(
        col(CannedResponse.workspace_id) == principal.workspace_id)
    q = query.strip().lstrip("/").lower()
    if q:
        escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(col(CannedResponse.shortcut).startswith(q, autoescape=True)
                          | col(CannedResponse.title).ilike(f"%{escaped}%", escape="\\"))
    async with session_scope() as session:
        rows = await session.exec(stmt.order_by(col(CannedResponse.shortcut)))
        return [_view(r) for r in rows]


async def _owned(session: AsyncSession, principal: Principal, canned_id: int) -> CannedResponse:
    return await in_workspace(session, CannedResponse, canned_id, principal,
                              missing="Canned response not found.", lock=True)


_TAKEN = "A canned response with this shortcut already exists."


async def _saved(
    session: AsyncSession, principal: Principal, row: CannedResponse, action: str
) -> CannedView:
    """Flush (a taken shortcut raises IntegrityError here, inside the caller's try) and
    audit the change."""
    session.add(row)
    await session.flush()
    await audit.record_by(session, principal, action, f"canned:{row.id}",
                          details={"shortcut": row.shortcut})
    return _view(row)


async def create_canned(
    principal: Principal, shortcut: str, title: str, body: str
) -> CannedView:
    principal.require(Role.ADMIN)
    shortcut, title, body = _clean(shortcut, title, body)
    try:
        async with session_scope() as session:
            count = (await session.exec(
                select(sa.func.count()).select_from(CannedResponse).where(
                    col(CannedResponse.workspace_id) == principal.workspace_id))).one()
            if count >= MAX_PER_WORKSPACE:
                raise ValidationFailed(f"A workspace can keep {MAX_PER_WORKSPACE} canned "
                                       "responses at most.")
            row = CannedResponse(workspace_id=principal.workspace_id, shortcut=shortcut,
                                 title=title, body=body)
            return await _saved(session, principal, row, "canned_created")
    except IntegrityError as exc:
        raise Conflict(_TAKEN) from exc


async def update_canned(
    principal: Principal, canned_id: int, shortcut: str, title: str, body: str
) -> CannedView:
    principal.require(Role.ADMIN)
    shortcut, title, body = _clean(shortcut, title, body)
    try:
        async with session_scope() as session:
            row = await _owned(session, principal, canned_id)
            row.shortcut, row.title, row.body, row.updated_at = shortcut, title, body, now()
            return await _saved(session, principal, row, "canned_updated")
    except IntegrityError as exc:
        raise Conflict(_TAKEN) from exc


async def delete_canned(principal: Principal, canned_id: int) -> None:
    principal.require(Role.ADMIN)
    async with session_scope() as session:
        row = await _owned(session, principal, canned_id)
        await session.delete(row)
        await audit.record_by(session, principal, "canned_deleted", f"canned:{canned_id}",
                              details={"shortcut": row.shortcut})
