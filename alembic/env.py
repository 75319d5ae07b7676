"""Alembic environment: online migrations only, against PostgreSQL."""

from __future__ import annotations

from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel

import backend_services.models  # noqa: F401  (registers every table)
from alembic import context

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
