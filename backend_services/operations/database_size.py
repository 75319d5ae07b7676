"""PostgreSQL's size, per table and in all, as the catalogue reports it now."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core.db import session_scope, sql_rows

# Total size counts a table's indexes and TOAST too: what it costs on disk. reltuples is
# the planner's estimate (-1 before the first ANALYZE): a count(*) per table would scan
# every row of the biggest tables each time the page opens.
_TABLES = text("""
SELECT c.relname AS name, pg_total_relation_size(c.oid) AS bytes,
       GREATEST(c.reltuples, 0)::bigint AS rows
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
ORDER BY bytes DESC, name
""")


@dataclass(frozen=True)
class TableSize:
    name: str
    bytes: int
    rows: int


async def table_sizes(session: AsyncSession | None = None) -> list[TableSize]:
    if session is None:
        async with session_scope() as own:
            return await table_sizes(own)
    return [TableSize(str(r.name), int(r.bytes), int(r.rows))
            for r in await sql_rows(session, _TABLES)]


async def database_bytes(session: AsyncSession | None = None) -> int:
    if session is None:
        async with session_scope() as own:
            return await database_bytes(own)
    rows = await sql_rows(session, text("SELECT pg_database_size(current_database()) AS b"))
    return int(rows[0].b)
