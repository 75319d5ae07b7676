"""Reading the audit log: filters, names instead of ids, pages and CSV.

Two audiences see it. Platform admins see every row. A workspace's owner sees the rows of
their own workspace only (the scope is the principal's, never a filter from the client),
and an actor who is not a member of that workspace — a platform admin blocking it, say —
shows as "Platform administrator" rather than by e-mail: a tenant learns that staff acted,
not who they are.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa

from backend_services.core.db import session_scope, sql_rows
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role

PAGE_SIZE = 50
CSV_MAX_ROWS = 100_000
STAFF = "Platform administrator"


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # part of the actor's e-mail or name
    workspace: str = ""  # part of the workspace's name, or its id (admins only)
    action: str = ""  # one action exactly, as listed by `actions`
    since: date | None = None
    until: date | None = None  # inclusive


@dataclass(frozen=True)
class AuditLine:
    id: int
    at: str
    action: str
    actor: str
    workspace: str
    target: str
    ip: str
    details: str


@dataclass(frozen=True)
class AuditPage:
    lines: list[AuditLine]
    total: int
    page: int
    pages: int


def _scope(principal: Principal, own_workspace: bool) -> int | None:
    """The workspace whose rows this person may read, or None for all of them."""
    if own_workspace:
        principal.require(Role.OWNER)
        return principal.workspace_id
    principal.require_platform_admin()
    return None


_FROM = """
FROM audit_log a
LEFT JOIN users u ON u.id = a.actor_user_id
LEFT JOIN workspaces w ON w.id = a.workspace_id
WHERE (CAST(:scope AS integer) IS NULL OR a.workspace_id = :scope)
  AND (:actor = '' OR u.email ILIKE :actor_like OR u.name ILIKE :actor_like)
  AND (:ws = '' OR w.name ILIKE :ws_like OR a.workspace_id::text = :ws)
  AND (:action = '' OR a.action = :action)
  AND (CAST(:since AS date) IS NULL OR a.created_at >= CAST(:since AS date))
  AND (CAST(:until AS date) IS NULL OR a.created_at < CAST(:until AS date))
  AND (CAST(:before AS bigint) IS NULL OR a.id < :before)
"""

_SELECT = sa.text(f"""
SELECT a.id, a.created_at, a.action, a.actor_user_id, u.email, u.name, u.deleted_at,
       a.workspace_id, w.name AS workspace_name, a.target, a.ip, a.details,
       EXISTS (SELECT 1 FROM memberships m WHERE m.workspace_id = a.workspace_id
               AND m.user_id = a.actor_user_id) AS member
{_FROM}
ORDER BY a.id DESC
LIMIT :limit OFFSET :offset
""")
_COUNT = sa.text(f"SELECT count(*) {_FROM}")


def _params(scope: int | None, flt: AuditFilter) -> dict[str, Any]:
    if flt.since and flt.until and flt.until < flt.since:
        raise ValidationFailed("The end date is before the start date.")
    actor, ws = flt.actor.strip()[:100], flt.workspace.strip()[:100]
    return {
        "scope": scope, "actor": actor, "actor_like": f"%{actor}%", "ws": ws,
        "ws_like": f"%{ws}%", "action": flt.action.strip()[:64], "since": flt.since,
        "until": flt.until + timedelta(days=1) if flt.until else None, "before": None,
    }


def _actor(m: Any, scope: int | None) -> str:
    if m["actor_user_id"] is None:
        return "system"
    if m["deleted_at"] is not None:
        return "a deleted account"
    if scope is not None and not m["member"]:
        return STAFF
    return f"{m['name']} <{m['email']}>" if m["name"] else str(m["email"])


def _line(m: Any, scope: int | None) -> AuditLine:
    workspace = ""
    if m["workspace_id"] is not None:
        workspace = m["workspace_name"] or f"#{m['workspace_id']}"
    details = json.dumps(m["details"], ensure_ascii=False, sort_keys=True) if m["details"] else ""
    return AuditLine(
        id=int(m["id"]), at=m["created_at"].strftime("%Y-%m-%d %H:%M:%S"), action=m["action"],
        actor=_actor(m, scope), workspace=workspace, target=m["target"] or "",
        ip=m["ip"] or "", details=details,
    )


async def search(principal: Principal, flt: AuditFilter, page: int = 1, *,
                 own_workspace: bool = False) -> AuditPage:
    scope = _scope(principal, own_workspace)
    params = _params(scope, flt)
    async with session_scope() as session:
        total = int((await sql_rows(session, _COUNT, params))[0][0])
        pages = max(1, -(-total // PAGE_SIZE))
        page = max(1, min(int(page), pages))
        rows = await sql_rows(
            session, _SELECT, {**params, "limit": PAGE_SIZE, "offset": (page - 1) * PAGE_SIZE})
    return AuditPage([_line(r._mapping, scope) for r in rows], total, page, pages)


async def actions(principal: Principal, *, own_workspace: bool = False) -> list[str]:
    """The actions that occur in the rows this person may read (the filter's choices)."""
    scope = _scope(principal, own_workspace)
    async with session_scope() as session:
        rows = await sql_rows(session, sa.text(
            "SELECT DISTINCT action FROM audit_log WHERE "
            "(CAST(:scope AS integer) IS NULL OR workspace_id = :scope) ORDER BY action"),
            {"scope": scope})
        return [str(a) for (a,) in rows]


def _cell(value: object) -> str:
    """A spreadsheet runs a cell that starts like a formula: names and targets come from
    tenants, so such a cell is quoted as text."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_HEADER = ("id", "time_utc", "action", "actor", "workspace", "target", "ip", "details")


async def csv_chunks(principal: Principal, flt: AuditFilter, *,
                     own_workspace: bool = False) -> AsyncIterator[bytes]:
    """The filtered log as CSV, newest first, fetched a page at a time so a long log does
    not sit in memory. Checked before the first byte: a refused caller gets an error
    response, not an empty file."""
    scope = _scope(principal, own_workspace)
    params = _params(scope, flt)

    async def chunks() -> AsyncIterator[bytes]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        before: int | None = None  # keyset paging: rows added meanwhile shift nothing
        written, batch = 0, 1000
        while written < CSV_MAX_ROWS:
            async with session_scope() as session:
                rows = await sql_rows(
                    session, _SELECT, {**params, "before": before, "limit": batch, "offset": 0})
            for r in rows:
                x = _line(r._mapping, scope)
                writer.writerow([_cell(v) for v in (x.id, x.at, x.action, x.actor, x.workspace,
                                                    x.target, x.ip, x.details)])
            written += len(rows)
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
            if len(rows) < batch:
                break
            before = int(rows[-1]._mapping["id"])

    return chunks()
