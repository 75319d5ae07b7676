"""Uploaded files where every process on every host reads them: PostgreSQL by default,
S3-compatible object storage by setting (REPLYX_FILE_STORE=s3).

Why not the web host's disk (as before): a jobs process on another host could not read an
upload, and a database backup missed the files. PostgreSQL needs nothing more to run and
puts files in the same transaction and the same backup as the rows that name them; object
storage suits large knowledge bases, and `replyx backup` copies its files.

Keys are "uploads/<workspace id>/<name>": callers build them from the principal's
workspace (`upload_key`), never from client input, so one tenant's key cannot name
another's file. With PostgreSQL, `put` and `delete` take the caller's session and happen
in its transaction: a document row and its file are stored or refused together.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from sqlmodel import col, delete, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core.db import dispose_engine, session_scope
from backend_services.core.errors import StorageUnavailable
from backend_services.core.settings import get_settings
from backend_services.models import StoredFile

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

log = logging.getLogger(__name__)

UPLOADS = "uploads"
STORAGE_DOWN = ("File storage did not answer, so the file was not saved. Try again in a "
                "moment.")


def upload_key(workspace_id: int, name: str) -> str:
    return f"{UPLOADS}/{int(workspace_id)}/{name}"


def workspace_prefix(workspace_id: int) -> str:
    return f"{UPLOADS}/{int(workspace_id)}/"


def workspace_of(key: str) -> int:
    """The workspace a key belongs to (keys are only ever built by `upload_key`)."""
    return int(key.split("/")[1])


@dataclass(frozen=True)
class StoredObject:
    key: str
    size_bytes: int


class FileStore(Protocol):
    # True when put/delete with a session happen in that session's transaction.
    transactional: bool

    async def put(self, key: str, data: bytes, session: AsyncSession | None = None) -> None:
        ...

    async def get(self, key: str) -> bytes | None:
        ...

    async def delete(self, key: str, session: AsyncSession | None = None) -> None:
        ...

    async def delete_prefix(self, prefix: str) -> int:
        ...

    def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        ...


@asynccontextmanager
async def _session(given: AsyncSession | None) -> AsyncIterator[AsyncSession]:
    if given is not None:
        yield given
        return
    async with session_scope() as own:
        yield own


class PostgresStore:
    """Files as rows of `stored_files` (bytea; uploads are capped well below its limits)."""

    transactional = True

    async def put(self, key: str, data: bytes, session: AsyncSession | None = None) -> None:
        async with _session(session) as s:
            s.add(StoredFile(workspace_id=workspace_of(key), key=key,
                             size_bytes=len(data), data=data))
            await s.flush()

    async def get(self, key: str) -> bytes | None:
        async with session_scope() as s:
            row = (await s.exec(select(StoredFile.data).where(StoredFile.key == key))).first()
        return bytes(row) if row is not None else None

    async def delete(self, key: str, session: AsyncSession | None = None) -> None:
        async with _session(session) as s:
            await s.exec(delete(StoredFile).where(col(StoredFile.key) == key))

    async def delete_prefix(self, prefix: str) -> int:
        async with session_scope() as s:
            result = await s.exec(delete(StoredFile).where(
                col(StoredFile.key).startswith(prefix, autoescape=True)))
        return int(result.rowcount or 0)

    async def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        last = ""
        while True:  # keyset pages: a store of many files is never read at once
            async with session_scope() as s:
                rows = list(await s.exec(
                    select(StoredFile.key, StoredFile.size_bytes)
                    .where(col(StoredFile.key).startswith(prefix, autoescape=True),
                           col(StoredFile.key) > last)
                    .order_by(col(StoredFile.key)).limit(500)))
            for key, size in rows:
                yield StoredObject(key, size)
            if len(rows) < 500:
                return
            last = rows[-1][0]


class S3Store:
    """Files as objects of one bucket (AWS S3, MinIO, Ceph, Yandex Object Storage, …),
    under an optional key prefix so one bucket can serve several installations. Not
    transactional: callers put before their commit and delete after it."""

    transactional = False

    def __init__(self) -> None:
        s = get_settings()
        self.bucket = s.s3_bucket
        self.prefix = s.s3_prefix.strip("/") + "/" if s.s3_prefix.strip("/") else ""

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[S3Client]:
        # Only installations using S3 load it.
        from aiobotocore.config import AioConfig
        from aiobotocore.session import get_session

        s = get_settings()
        async with get_session().create_client(
            "s3", endpoint_url=s.s3_endpoint_url, region_name=s.s3_region,
            aws_access_key_id=s.s3_access_key_id,
            aws_secret_access_key=s.s3_secret_access_key,
            # An upload waits for the store at most a few seconds before it is refused
            # plainly; the jobs process retries its reads on its own schedule.
            config=AioConfig(connect_timeout=5, read_timeout=60,
                             retries={"max_attempts": 3, "mode": "standard"}),
        ) as client:
            yield client

    async def put(self, key: str, data: bytes, session: AsyncSession | None = None) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            async with self._client() as c:
                await c.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)
        except (BotoCoreError, ClientError, OSError) as exc:
            log.warning("object storage refused or did not answer: %r", exc)
            raise StorageUnavailable(STORAGE_DOWN) from exc

    async def get(self, key: str) -> bytes | None:
        async with self._client() as c:
            try:
                answer = await c.get_object(Bucket=self.bucket, Key=self.prefix + key)
            except c.exceptions.NoSuchKey:
                return None
            async with answer["Body"] as body:
                return await body.read()

    async def delete(self, key: str, session: AsyncSession | None = None) -> None:
        async with self._client() as c:
            await c.delete_object(Bucket=self.bucket, Key=self.prefix + key)

    async def delete_prefix(self, prefix: str) -> int:
        keys = [o.key async for o in self.list(prefix)]
        async with self._client() as c:
            for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 at most
                await c.delete_objects(Bucket=self.bucket, Delete={"Objects": [
                    {"Key": self.prefix + k} for k in keys[start:start + 1000]]})
        return len(keys)

    async def list(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        async with self._client() as c:
            pages = c.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self.prefix + prefix)
            async for page in pages:
                for item in page.get("Contents", []):
                    yield StoredObject(item["Key"][len(self.prefix):], int(item["Size"]))


def get_store() -> FileStore:
    """The store the settings name (cheap: the S3 client is made per call)."""
    return S3Store() if get_settings().file_store == "s3" else PostgresStore()


async def import_local_uploads(data_dir: Path | None = None) -> int:
    """Move files an earlier version kept on this host's disk into the store (idempotent:
    a file already stored is only removed from the disk). Run by `replyx migrate`."""
    root = (data_dir or get_settings().data_dir) / UPLOADS
    if not root.is_dir():
        return 0
    store, moved = get_store(), 0
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdigit()):
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            key = upload_key(int(folder.name), path.name)
            if await store.get(key) is None:
                try:
                    await store.put(key, path.read_bytes())
                except Exception:  # e.g. the workspace was deleted: nothing refers to it
                    log.warning("could not move %s into the file store", path, exc_info=True)
                    continue
                moved += 1
            path.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()
    return moved


async def import_local_uploads_at_start() -> int:
    """`import_local_uploads` for a start-up command that runs it in an event loop of its
    own: the database pool, bound to that loop, is closed after it."""
    try:
        return await import_local_uploads()
    finally:
        await dispose_engine()
