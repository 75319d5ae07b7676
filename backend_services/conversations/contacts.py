"""The workspace's contacts (the people its widget and bots have talked to), for the
public API: who they are, on which channel, how many conversations and when last."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from backend_services.core.db import session_scope, sql_rows
from backend_services.core.errors import NotFound
from backend_services.core.principal import Principal
from backend_services.models import Role

PAGE_MAX = 200


@dataclass(frozen=True)
class ContactView:
    id: int
    channel_kind: str
    external_id: str
    name: str
    email: str
    created_at: datetime
    dialogs: int
    last_dialog_at: datetime | None


_SELECT = sa.text("""
SELECT c.id, c.kind, c.external_id, c.name, c.email, c.created_at,
       count(d.id) AS dialogs, max(d.created_at) AS last_dialog_at
FROM contacts c LEFT JOIN dialogs d ON d.contact_id = c.id AND d.workspace_id = c.workspace_id
WHERE c.workspace_id = :w
  AND (CAST(:only AS integer) IS NULL OR c.id = :only)
  AND (:q = '' OR c.name ILIKE :like OR c.email ILIKE :like)
  AND (CAST(:after AS integer) IS NULL OR c.id < :after)
GROUP BY c.id ORDER BY c.id DESC LIMIT :limit
""")


def _view(r: Any) -> ContactView:
    m = r._mapping
    return ContactView(int(m["id"]), str(m["kind"]), str(m["external_id"]), str(m["name"]),
                       str(m["email"]), m["created_at"], int(m["dialogs"]),
                       m["last_dialog_at"])


async def list_contacts(principal: Principal, query: str = "", limit: int = 50,
                        before_id: int | None = None) -> list[ContactView]:
    """Newest first; `before_id` pages on (the last id of the previous page)."""
    principal.require(Role.OPERATOR)
    q = " ".join(query.split())[:100].replace("\\", "\\\\").replace("%", "\\%")
    async with session_scope() as session:
        rows = await sql_rows(session, _SELECT, {
            "w": principal.workspace_id, "only": None, "q": q, "like": f"%{q}%",
            "after": before_id, "limit": max(1, min(limit, PAGE_MAX))})
    return [_view(r) for r in rows]


async def get_contact(principal: Principal, contact_id: int) -> ContactView:
    principal.require(Role.OPERATOR)
    async with session_scope() as session:
        rows = await sql_rows(session, _SELECT, {
            "w": principal.workspace_id, "only": int(contact_id), "q": "", "like": "",
            "after": None, "limit": 1})
    if not rows:
        raise NotFound("Contact not found.")
    return _view(rows[0])
