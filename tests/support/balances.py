"""A workspace's balance as PostgreSQL holds it, for tests of billing."""

from __future__ import annotations

from backend_services.core.db import session_scope
from backend_services.models import Balance


async def balance(workspace_id: int) -> int:
    async with session_scope() as session:
        row = await session.get(Balance, workspace_id)
    assert row is not None
    return row.amount_minor
