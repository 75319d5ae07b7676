"""The one way a service loads a row by id for a principal: in its workspace, or not found.

Another workspace's row must look exactly like a missing one (no "forbidden" that would
confirm the id exists), and every service used to write that check by hand. Rows are
told apart only by a `workspace_id` column, so this module needs no domain model.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core.errors import NotFound
from backend_services.core.principal import Principal


class WorkspaceRow(Protocol):
    workspace_id: int


RowT = TypeVar("RowT", bound=WorkspaceRow)


async def in_workspace(
    session: AsyncSession,
    model: type[RowT],
    row_id: int,
    scope: Principal | int,
    *,
    missing: str,
    lock: bool = False,
) -> RowT:
    """`model` row `row_id` if it belongs to `scope` (a principal, or a workspace id for
    system work); else NotFound(`missing`). `lock` takes the row lock (SELECT … FOR UPDATE)."""
    workspace_id = scope.workspace_id if isinstance(scope, Principal) else scope
    row = await session.get(model, int(row_id), with_for_update=lock)
    if row is None or row.workspace_id != workspace_id:
        raise NotFound(missing)
    return row
