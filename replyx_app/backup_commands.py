"""`replyx backup` / `replyx restore`: the commands around operations/backup.py — the
embedded PostgreSQL started when no DATABASE_URL is set (so a one-machine install backs
up and restores with nothing else running, into an empty data directory too), and what
the operator is told, the encryption key first."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from backend_services.core.db import dispose_engine
from backend_services.core.embedded_servers import EmbeddedPostgres
from backend_services.core.settings import get_settings, reset_settings_cache
from backend_services.operations import backup as backups


def say(msg: str) -> None:
    print(f"[replyx] {msg}", flush=True)


@contextlib.contextmanager
def database() -> Iterator[None]:
    """The configured database, or the data directory's embedded server while we work."""
    settings = get_settings()
    if settings.database_url is not None:
        yield
        return
    say(f"starting embedded PostgreSQL in {settings.data_dir / 'postgres'}")
    pg = EmbeddedPostgres(settings.data_dir / "postgres")
    pg.start()
    os.environ["DATABASE_URL"] = pg.ensure_database("replyx")
    reset_settings_cache()
    try:
        yield
    finally:
        pg.stop()


async def _backup(target: Path) -> backups.BackupResult:
    try:
        return await backups.backup(target)
    finally:
        await dispose_engine()  # the pool is bound to this command's event loop


async def _restore(archive: Path, force: bool, accept_other_key: bool) -> backups.RestoreResult:
    try:
        return await backups.restore(archive, force=force, accept_other_key=accept_other_key)
    finally:
        await dispose_engine()


def run_backup(output: Path | None) -> int:
    target = output or Path(f"replyx-backup-{datetime.now(UTC):%Y%m%d-%H%M%S}.tar")
    try:
        with database():
            result = asyncio.run(_backup(target))
    except backups.BackupError as exc:
        say(f"backup failed: {exc}")
        return 1
    where = "in the database dump" if get_settings().file_store == "postgres" else \
        f"{result.files} files from object storage"
    say(f"backup written to {result.path} (schema {result.revision}; uploaded files {where})")
    say(f"Keep REPLYX_ENCRYPTION_KEY (fingerprint {result.key_fingerprint}) with it: the "
        "backup does not contain the key, and without it the stored bot tokens and AI "
        "provider keys cannot be decrypted.")
    return 0


def run_restore(archive: Path, *, force: bool, accept_other_key: bool) -> int:
    try:
        with database():
            result = asyncio.run(_restore(archive, force, accept_other_key))
    except backups.BackupError as exc:
        say(f"restore refused: {exc}")
        return 2
    say(f"restored {archive} (schema now {result.revision}; {result.files} files copied "
        "into the file store)")
    if accept_other_key:
        say("Bot tokens and AI provider keys encrypted with the old key cannot be read: "
            "enter them again on the Channels and AI providers pages.")
    return 0
