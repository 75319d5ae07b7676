"""Deleting a workspace: an owner types its name, it goes after a grace period unless an
owner cancels, and its data can be downloaded first.

The grace period (REPLYX_WORKSPACE_DELETION_GRACE_DAYS) is the undo: during it the
workspace keeps working, so a mistaken or malicious request costs nothing that cannot be
taken back by any owner. The jobs process deletes what is due (`purge_due`); every tenant
table references the workspace ON DELETE CASCADE, so one DELETE takes everything, and the
uploaded files go with it. Members whose browser was in it move to another workspace of
theirs instead of being signed out.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core import audit, file_store
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.core.settings import get_settings
from backend_services.identity.my_workspaces import move_to_any_other
from backend_services.models import Role, UserSession, Workspace

log = logging.getLogger(__name__)

# What the export holds: the tenant's own records. Derived data (vectors, roll-ups),
# queues and secrets (token hashes, encrypted bot tokens) are left out.
EXPORT_TABLES = ("assistants", "knowledge_documents", "qa_pairs", "canned_responses",
                 "handoff_policies", "widget_settings", "contacts", "dialogs", "messages",
                 "handoff_events", "email_messages", "balances", "ledger_entries",
                 "payments", "ai_usage", "audit_log")
_SECRET_WORDS = ("hash", "token", "secret", "encrypted", "password", "embedding")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class DeletionState:
    requested_at: datetime | None
    delete_after: datetime | None


async def state_of(principal: Principal) -> DeletionState:
    async with session_scope() as session:
        ws = await session.get(Workspace, principal.workspace_id)
    if ws is None:
        raise NotFound("Workspace not found.")
    return DeletionState(ws.deletion_requested_at, ws.delete_after)


async def request(principal: Principal, typed_name: str) -> datetime:
    """Schedule the deletion; returns when it happens."""
    principal.require(Role.OWNER)
    async with session_scope() as session:
        ws = await session.get(Workspace, principal.workspace_id, with_for_update=True)
        if ws is None:
            raise NotFound("Workspace not found.")
        if " ".join(typed_name.split()) != ws.name:
            raise ValidationFailed("Type the workspace's name exactly to confirm.")
        if ws.delete_after is not None:
            return ws.delete_after
        ws.deletion_requested_at = _now()
        ws.delete_after = ws.deletion_requested_at + timedelta(
            days=get_settings().workspace_deletion_grace_days)
        session.add(ws)
        await audit.record_by(session, principal, "workspace_deletion_requested", ws.name,
                              details={"delete_after": ws.delete_after.isoformat()})
        return ws.delete_after


async def cancel(principal: Principal) -> None:
    principal.require(Role.OWNER)
    async with session_scope() as session:
        ws = await session.get(Workspace, principal.workspace_id, with_for_update=True)
        if ws is None:
            raise NotFound("Workspace not found.")
        if ws.delete_after is None:
            return
        ws.deletion_requested_at = ws.delete_after = None
        session.add(ws)
        await audit.record_by(session, principal, "workspace_deletion_cancelled", ws.name)


async def purge_due() -> int:
    """Delete every workspace whose grace period is over; returns how many went."""
    async with session_scope() as session:
        due = list((await session.exec(
            select(col(Workspace.id), Workspace.name)
            .where(col(Workspace.delete_after) <= _now()))).all())
    for row_id, name in due:
        assert row_id is not None
        workspace_id = int(row_id)
        async with session_scope() as session:
            sessions = (await session.exec(
                select(UserSession.id_hash, UserSession.user_id)
                .where(UserSession.workspace_id == workspace_id,
                       col(UserSession.revoked_at).is_(None)))).all()
            for id_hash, user_id in sessions:
                await move_to_any_other(session, id_hash, user_id, workspace_id)
            gone = (await session.exec(  # type: ignore[call-overload]
                sa.delete(Workspace).where(col(Workspace.id) == workspace_id,
                                           col(Workspace.delete_after) <= _now())
                .returning(col(Workspace.id)))).first()
            if gone is None:  # cancelled meanwhile
                await session.rollback()
                continue
            await audit.record(session, "workspace_deleted", target=name,
                               details={"workspace_id": workspace_id})
        # In PostgreSQL the files went with the workspace (cascade); from an object store
        # now. A failure here leaves only unreachable objects: the next purge cannot find
        # the workspace again, so say so for the operator.
        store = file_store.get_store()
        if not store.transactional:
            try:
                await store.delete_prefix(file_store.workspace_prefix(workspace_id))
            except Exception:
                log.exception("files of deleted workspace %s are left in the object store "
                              "under %s", workspace_id, file_store.workspace_prefix(workspace_id))
        log.info("deleted workspace %s after its grace period", workspace_id)
    return len(due)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return None
    return value


async def _write_rows(archive: zipfile.ZipFile, name: str, session: AsyncSession,
                     statement: sa.TextClause) -> None:
    """One table as JSON Lines, streamed from the server row by row into the archive: a
    workspace with millions of messages is never held in memory at once."""
    result = await session.stream(statement)
    keep = [k for k in result.keys()  # noqa: SIM118 (a Result, not a dict)
            if not any(word in k for word in _SECRET_WORDS)]
    with archive.open(name, "w", force_zip64=True) as out:
        async for row in result:
            out.write((json.dumps({k: _plain(row._mapping[k]) for k in keep},
                                  ensure_ascii=False) + "\n").encode())


async def write_export(principal: Principal, target: IO[bytes]) -> None:
    """The workspace's records as JSON Lines, one file per table, plus the uploaded files,
    as a zip written into `target` (a spooled temporary file for a download). Owners only:
    it holds every conversation."""
    principal.require(Role.OWNER)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        async with session_scope() as session:
            ws = await session.get(Workspace, principal.workspace_id)
            if ws is None:
                raise NotFound("Workspace not found.")
            archive.writestr("workspace.json", json.dumps(
                {"id": ws.id, "name": ws.name, "currency": ws.currency,
                 "created_at": ws.created_at.isoformat(),
                 "exported_at": _now().isoformat()}, ensure_ascii=False, indent=2))
            await _write_rows(archive, "members.jsonl", session, sa.text(
                "SELECT u.email, u.name, m.role, m.created_at FROM memberships m "
                "JOIN users u ON u.id = m.user_id WHERE m.workspace_id = :w ORDER BY m.id"
            ).bindparams(w=principal.workspace_id))
            for table in EXPORT_TABLES:
                await _write_rows(archive, f"{table}.jsonl", session, sa.text(
                    f"SELECT * FROM {table} WHERE workspace_id = :w ORDER BY 1"
                ).bindparams(w=principal.workspace_id))
        store = file_store.get_store()
        async for item in store.list(file_store.workspace_prefix(principal.workspace_id)):
            data = await store.get(item.key)
            if data is not None:
                archive.writestr(f"files/{item.key.rsplit('/', 1)[-1]}", data)
    async with session_scope() as session:
        await audit.record_by(session, principal, "workspace_exported")
