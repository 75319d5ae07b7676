"""Alembic driven from code, so `replyx migrate`, the launcher and the tests share one path."""

from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import AsyncConnection

from alembic import command
from backend_services.core.db import sync_url
from backend_services.core.settings import ROOT, get_settings


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ROOT / "alembic"))
    cfg.set_main_option(
        "sqlalchemy.url",
        sync_url(database_url or get_settings().require_database_url()).replace("%", "%%"),
    )
    return cfg


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("postgresql://x@localhost/x")).get_current_head()


def all_revisions() -> list[str]:
    """Oldest first: the order a fresh database walks through."""
    script = ScriptDirectory.from_config(alembic_config("postgresql://x@localhost/x"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def current_revision_sync(database_url: str) -> str | None:
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


async def current_revision(conn: AsyncConnection) -> str | None:
    return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
