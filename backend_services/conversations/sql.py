"""Running Core statements (INSERT ... ON CONFLICT, UPDATE) in a SQLModel session."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Result
from sqlalchemy.sql.expression import Executable
from sqlmodel.ext.asyncio.session import AsyncSession


async def run(session: AsyncSession, statement: Executable) -> Result[Any]:
    """`session.exec` accepts any executable; its overloads only describe SELECT."""
    return await session.exec(statement)  # type: ignore[call-overload,no-any-return]
