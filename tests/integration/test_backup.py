"""`replyx backup` → `replyx restore` into an empty data directory: the restored
installation answers the same question from the same knowledge, decrypts the same secrets
with the same key, and the commands refuse what would lose data (a different key, a
database that is not empty, an archive that is not a backup)."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import select

from backend_services.ai import keys
from backend_services.core.db import dispose_engine, session_scope
from backend_services.core.embedded_servers import EmbeddedPostgres
from backend_services.core.security import decrypt_secret
from backend_services.core.settings import get_settings, reset_settings_cache
from backend_services.models import AIProviderKey
from tests.conftest import ROOT
from tests.integration.conversation_helpers import Shop, ask, ingested, shop

DOC = b"""# Returns

## Deadline

Unworn shoes can be returned within 45 days. Send them with the prepaid label from the box.
"""
QUESTION = "How many days do I have to return unworn shoes?"


def replyx(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "replyx_app.cli", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
async def installed(worker: None) -> AsyncIterator[Shop]:
    """A workspace whose assistant answers from an uploaded file, with an AI key stored."""
    s = await shop("a", platform_admin=True)
    await ingested(s.owner, s.bot.id, "returns.md", DOC)
    await keys.add_key(s.owner, "Main", "https://llm.example.com/v1", "sk-live-secret-1",
                       ["gpt-x"], 60, 100_000)
    yield s


async def _answer(s: Shop, cid: str) -> str:
    _, reply = await ask(s.visitor, QUESTION, cid)
    assert reply is not None
    return reply.content


async def _stored_key() -> str:
    async with session_scope() as session:
        row = (await session.exec(select(AIProviderKey))).one()
    return decrypt_secret(row.api_key_encrypted)


async def test_backup_then_restore_into_an_empty_data_directory_answers_the_same(
    installed: Shop, tmp_path: Path, env: pytest.MonkeyPatch,
) -> None:
    s = installed
    before = await _answer(s, "before")
    assert "45 days" in before
    key = get_settings().encryption_key
    assert key
    archive = tmp_path / "backup.tar"
    done = replyx("backup", "--output", str(archive),
                  env={**os.environ, "REPLYX_ENCRYPTION_KEY": key})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "REPLYX_ENCRYPTION_KEY" in done.stdout and "fingerprint" in done.stdout
    with tarfile.open(archive) as tar:
        assert {"manifest.json", "database.dump"} <= set(tar.getnames())
        assert not (tmp_path / "backup.tar.partial").exists()
        raw = b"".join(f.read() for m in tar.getmembers()
                       if (f := tar.extractfile(m)) is not None)
    assert key.encode() not in raw  # the key itself is never in the archive

    # A new machine: an empty data directory, no DATABASE_URL (the embedded server).
    fresh = tmp_path / "new-machine"
    new_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    new_env["REPLYX_DATA_DIR"] = str(fresh)
    refused = replyx("restore", str(archive), env=new_env)  # its own new key: refused
    assert refused.returncode == 2
    assert "fingerprint" in refused.stdout and "--accept-other-key" in refused.stdout
    restored = replyx("restore", str(archive), env={**new_env, "REPLYX_ENCRYPTION_KEY": key})
    assert restored.returncode == 0, restored.stdout + restored.stderr
    again = replyx("restore", str(archive), env={**new_env, "REPLYX_ENCRYPTION_KEY": key})
    assert again.returncode == 2 and "not empty" in again.stdout

    # The restored installation, asked from here: the same answer and the same secrets.
    pg = EmbeddedPostgres(fresh / "postgres")
    url = pg.start()
    try:
        await dispose_engine()
        env.setenv("DATABASE_URL", url)
        reset_settings_cache()
        assert get_settings().data_dir != fresh  # only the database moved
        assert await _answer(s, "after") == before
        assert await _stored_key() == "sk-live-secret-1"
    finally:
        await dispose_engine()
        env.undo()
        reset_settings_cache()
        pg.stop()


async def test_restore_refuses_an_archive_that_is_not_a_backup(
    clean: None, tmp_path: Path,
) -> None:
    bogus = tmp_path / "photos.tar"
    with tarfile.open(bogus, "w") as tar:
        tar.add(__file__, "photo.jpg")
    done = replyx("restore", str(bogus), env={**os.environ})
    assert done.returncode == 2 and "is not a ReplyX backup" in done.stdout
