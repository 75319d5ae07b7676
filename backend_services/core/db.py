"""Database engine and sessions. One async engine per process, created on first use."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql.expression import Executable
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core.settings import get_settings
from backend_services.core.text_safety import install_database_guard, json_serializer

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None


def _with_driver(url: str, driver: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("DATABASE_URL must look like postgresql://user:pass@host/db")
    base = scheme.split("+", 1)[0]
    if base in ("postgres", "postgresql"):
        base = "postgresql"
    return f"{base}+{driver}://{rest}"


def async_url(url: str) -> str:
    return _with_driver(url, "asyncpg")


def sync_url(url: str) -> str:
    return _with_driver(url, "psycopg")


def get_engine() -> AsyncEngine:
    global _engine, _sessionmaker
    if _engine is None:
        settings = get_settings()
        _engine = create_async_engine(
            async_url(settings.require_database_url()),
            pool_size=10,
            max_overflow=10,
            pool_pre_ping=True,
            pool_recycle=1800,
            json_serializer=json_serializer,
        )
        # The last line: no text parameter reaches PostgreSQL with a NUL or a lone surrogate.
        install_database_guard(_engine.sync_engine)
        _sessionmaker = async_sessionmaker(_engine, class_=AsyncSession, expire_on_commit=False)
    return _engine


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A unit of work: commits when the block succeeds, rolls back when it raises."""
    get_engine()
    assert _sessionmaker is not None
    async with _sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def dispose_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None


def pool_stats() -> dict[str, int]:
    """Numbers for /metrics: how many pooled connections exist and are checked out."""
    if _engine is None:
        return {"size": 0, "checked_out": 0, "overflow": 0}
    pool = _engine.sync_engine.pool
    return {
        "size": int(getattr(pool, "size", lambda: 0)()),
        "checked_out": int(getattr(pool, "checkedout", lambda: 0)()),
        "overflow": int(getattr(pool, "overflow", lambda: 0)()),
    }


async def sql_rows(session: AsyncSession, statement: Executable,
                   params: Mapping[str, Any] | None = None) -> list[Any]:
    """Rows of a Core statement or raw SQL (reports, admin listings), with parameters.
    Through sqlmodel's `exec`, which takes either, so callers need no `execute`."""
    return list(await session.exec(statement, params=params or {}))  # type: ignore[call-overload]
