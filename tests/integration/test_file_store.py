"""Uploaded files where every host reads them: a file uploaded through one web process's
API is indexed by a jobs process that shares no disk with it (its own, empty data
directory), with the files in PostgreSQL and in S3-compatible object storage; files an
earlier version left on a host's disk move into the store; an object store that does not
answer refuses the upload plainly and stores nothing."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from backend_services.core import file_store
from backend_services.core.db import session_scope
from backend_services.core.settings import get_settings, reset_settings_cache
from backend_services.integrations import api_keys
from backend_services.knowledge import sources
from backend_services.models import KnowledgeDocument
from replyx_app.api import build_api
from replyx_app.middleware import SecurityAndMetrics
from tests.conftest import ROOT
from tests.integration.conversation_helpers import ask, eventually, shop
from tests.support.api_server import serve
from tests.support.s3_server import S3TestServer, s3_server

DOC = b"""# Returns

## Deadline

Unworn shoes can be returned within 45 days. Send them with the prepaid label from the box.
"""


@pytest.fixture
def s3() -> Iterator[S3TestServer]:
    with s3_server() as server:
        yield server


@pytest.fixture(params=["postgres", "s3"])
async def store_env(request: pytest.FixtureRequest, clean: None,
                    env: pytest.MonkeyPatch) -> AsyncIterator[dict[str, str]]:
    """The store the test runs with, set for this process and for the ones it starts."""
    settings: dict[str, str] = {"REPLYX_FILE_STORE": "postgres"}
    with contextlib.ExitStack() as stack:
        if request.param == "s3":
            server = stack.enter_context(s3_server())
            await server.create_bucket()
            settings = server.env(prefix="install-1")
        for name, value in settings.items():
            env.setenv(name, value)
        reset_settings_cache()
        yield settings


@contextlib.contextmanager
def jobs_process_on_another_host(settings: dict[str, str], data_dir: Path) -> Iterator[Path]:
    """`replyx jobs` with a data directory of its own: nothing of the web's disk."""
    log = data_dir / "jobs.log"
    env = {**os.environ, **settings, "REPLYX_DATA_DIR": str(data_dir),
           "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "replyx_app.cli", "jobs"], cwd=ROOT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _status(document_id: int) -> str | None:
    async with session_scope() as session:
        doc = await session.get(KnowledgeDocument, document_id)
    return doc.status if doc is not None and doc.status in ("ready", "failed") else None


async def test_the_jobs_process_reads_an_upload_made_through_another_web_process(
    store_env: dict[str, str], tmp_path: Path,
) -> None:
    s = await shop("a")
    token = (await api_keys.create_key(s.owner, "Sync", ["read", "knowledge"])).token
    async with (serve(SecurityAndMetrics(build_api())) as url,
                httpx.AsyncClient(base_url=url) as api):
        r = await api.post(f"/api/v1/assistants/{s.bot.id}/documents",
                           headers={"Authorization": f"Bearer {token}"},
                           files={"file": ("returns.md", DOC, "text/markdown")})
    assert r.status_code == 202, r.text
    doc_id = r.json()["id"]
    # Nothing of it on this (the web) host's disk: the file is in the shared store.
    assert not (get_settings().data_dir / "uploads").exists()
    stored = [o async for o in file_store.get_store().list(
        file_store.workspace_prefix(s.owner.workspace_id))]
    assert [o.size_bytes for o in stored] == [len(DOC)]

    other_host = tmp_path / "jobs-host"
    other_host.mkdir()
    with jobs_process_on_another_host(store_env, other_host) as log:
        status = await eventually(lambda: _status(doc_id), "indexing by the jobs process",
                                  timeout=180)
        assert status == "ready", log.read_text()[-3000:]
    assert not (other_host / "uploads").exists()
    _, reply = await ask(s.visitor, "How many days do I have to return unworn shoes?", "q1")
    assert reply is not None and "45 days" in reply.content

    # Deleting the source deletes its file from the store.
    await sources.delete_document(s.owner, doc_id)
    assert [o async for o in file_store.get_store().list(
        file_store.workspace_prefix(s.owner.workspace_id))] == []


async def test_files_left_on_a_hosts_disk_move_into_the_store(
    store_env: dict[str, str],
) -> None:
    s = await shop("a")
    folder = get_settings().data_dir / "uploads" / str(s.owner.workspace_id)
    folder.mkdir(parents=True)
    (folder / "old.md").write_bytes(DOC)
    # A folder of a workspace deleted long ago: nothing may refer to it.
    gone = get_settings().data_dir / "uploads" / "9999"
    gone.mkdir()
    (gone / "orphan.md").write_bytes(b"nobody's")
    async with session_scope() as session:
        session.add(KnowledgeDocument(workspace_id=s.owner.workspace_id,
                                      assistant_id=s.bot.id, title="old.md", source_type="md",
                                      stored_name="old.md", size_bytes=len(DOC)))

    moved = await file_store.import_local_uploads()
    store = file_store.get_store()
    assert await store.get(file_store.upload_key(s.owner.workspace_id, "old.md")) == DOC
    assert not folder.exists()
    assert await file_store.import_local_uploads() == 0  # idempotent
    if store.transactional:  # PostgreSQL keeps no file of a workspace that does not exist
        assert moved == 1 and (gone / "orphan.md").exists()
    else:
        assert moved == 2


async def test_an_object_store_that_does_not_answer_refuses_the_upload_and_stores_nothing(
    clean: None, env: pytest.MonkeyPatch, s3: S3TestServer,
) -> None:
    await s3.create_bucket()
    for name, value in s3.env().items():
        env.setenv(name, value)
    reset_settings_cache()
    s = await shop("a")
    s3.stop()
    token = (await api_keys.create_key(s.owner, "Sync", ["knowledge"])).token
    async with (serve(SecurityAndMetrics(build_api())) as url,
                httpx.AsyncClient(base_url=url, timeout=120) as api):
        r = await api.post(f"/api/v1/assistants/{s.bot.id}/documents",
                           headers={"Authorization": f"Bearer {token}"},
                           files={"file": ("returns.md", DOC, "text/markdown")})
    assert r.status_code == 503
    assert r.json()["detail"].startswith("File storage did not answer")
    async with session_scope() as session:
        assert list(await session.exec(select(KnowledgeDocument))) == []
