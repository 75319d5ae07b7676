"""A fingerprint of everything stored, to show that a refused request changed nothing."""

from __future__ import annotations

from sqlalchemy import text

from backend_services.core.db import get_engine

# Touched by every authenticated request; not data a request could corrupt.
VOLATILE_COLUMNS = frozenset({"last_seen_at"})


async def database_fingerprint() -> dict[str, tuple[int, str]]:
    """Per table: the row count and an md5 of all rows (volatile columns left out)."""
    out: dict[str, tuple[int, str]] = {}
    async with get_engine().connect() as conn:
        columns = (await conn.execute(text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"))).all()
        tables: dict[str, list[str]] = {}
        for table, column in columns:
            if column not in VOLATILE_COLUMNS:
                tables.setdefault(table, []).append(column)
        for table, cols in tables.items():
            row = ", ".join(f'"{c}"' for c in cols)
            count, digest = (await conn.execute(text(
                f'SELECT count(*), md5(coalesce(string_agg(r::text, \'|\' ORDER BY r::text), \'\'))'
                f' FROM (SELECT ROW({row}) AS r FROM "{table}") t'))).one()
            out[table] = (int(count), str(digest))
    return out
