"""Scheduled identity housekeeping run by the jobs process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col

from backend_services.core.db import session_scope
from backend_services.models import AuthToken, UserSession

KEEP_ENDED_SESSIONS = timedelta(days=30)


async def purge_expired() -> dict[str, int]:
    """Drop sessions and one-time tokens that can never be used again (kept 30 days for audit)."""
    cutoff = datetime.now(UTC) - KEEP_ENDED_SESSIONS
    async with session_scope() as session:
        s = await session.exec(  # type: ignore[call-overload]
            delete(UserSession).where(col(UserSession.expires_at) < cutoff)
        )
        t = await session.exec(  # type: ignore[call-overload]
            delete(AuthToken).where(col(AuthToken.expires_at) < cutoff)
        )
        return {"sessions": int(s.rowcount or 0), "tokens": int(t.rowcount or 0)}
