"""Knowledge end to end: upload → durable job → chunks → hybrid retrieval, walled per tenant.

Real PostgreSQL + pgvector, real procrastinate worker, real local embedder.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import select

from backend_services.assistants import service as assistants
from backend_services.assistants.service import AssistantInput
from backend_services.core import file_store
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, ValidationFailed
from backend_services.core.principal import Principal
from backend_services.identity import auth
from backend_services.knowledge import retrieval, sources
from backend_services.knowledge.embeddings import get_default_embedder
from backend_services.models import KnowledgeChunk, KnowledgeDocument, Workspace
from tests.conftest import ROOT

PW = "Correct-horse-9"


async def _owner(email: str) -> Principal:
    await auth.signup(email=email, password=PW, name="O", workspace_name=email)
    await auth.create_user(email=email, password=PW, name="O", workspace_id=None)
    return (await auth.login(email=email, password=PW)).principal


async def _assistant(p: Principal, name: str = "Helper", language: str = "en") -> int:
    a = await assistants.create_assistant(p, AssistantInput(name=name, language=language))
    assert a.id is not None
    return a.id


async def _wait_status(doc_id: int, statuses: set[str], timeout: float = 120) -> KnowledgeDocument:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with session_scope() as s:
            doc = await s.get(KnowledgeDocument, doc_id)
        assert doc is not None
        if doc.status in statuses:
            return doc
        await asyncio.sleep(0.1)  # poll: the job updates the row as it goes
    raise AssertionError(f"document {doc_id} stuck in {doc.status} ({doc.progress}%)")


def _docx(paragraphs: list[tuple[str, str]]) -> bytes:
    from docx import Document

    d = Document()
    for style, text_ in paragraphs:
        if style.startswith("Heading"):
            d.add_heading(text_, level=int(style[-1]))
        else:
            d.add_paragraph(text_)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _pdf(text_: str) -> bytes:
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    w = PdfWriter()
    page = w.add_blank_page(width=612, height=792)
    font = DictionaryObject({NameObject("/Type"): NameObject("/Font"),
                             NameObject("/Subtype"): NameObject("/Type1"),
                             NameObject("/BaseFont"): NameObject("/Helvetica")})
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): w._add_object(font)})})
    stream = DecodedStreamObject()
    stream.set_data(f"BT /F1 12 Tf 72 720 Td ({text_}) Tj ET".encode())
    page[NameObject("/Contents")] = w._add_object(stream)
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()


FILES: dict[str, tuple[bytes, str, str]] = {}


def _files() -> dict[str, tuple[bytes, str, str]]:
    """name → (content, a question, a phrase the answer passage contains)."""
    if not FILES:
        FILES.update({
            "refunds.txt": (b"Refund policy\n\nRefunds are issued within 14 days of the "
                            b"request to the original card.", "how long do refunds take",
                            "14 days"),
            "guide.md": (b"# Widgets\n\n## Colours\n\nThe launcher colour is set on the "
                         b"Widget tab under Appearance.\n", "where do I change the launcher colour",
                         "Appearance"),
            "faq.html": (b"<html><head><title>FAQ</title><script>evil()</script></head>"
                         b"<body><h1>Passwords</h1><p>To reset a password open Settings and "
                         b"press Reset.</p></body></html>", "how to reset my password", "Settings"),
            "prices.csv": (b"plan,price\nStarter,9 USD per month\nPro,29 USD per month\n",
                           "how much is the pro plan", "29 USD"),
            "manual.docx": (_docx([("Heading1", "Invoices"),
                                   ("p", "Invoices are emailed on the first day of each "
                                         "month as PDF attachments.")]),
                            "when are invoices sent", "first day"),
            "terms.pdf": (_pdf("Support is available on weekdays from nine to six."),
                          "when is support available", "weekdays"),
        })
    return FILES


async def test_each_file_type_is_ingested_and_answers_questions(worker: None) -> None:
    p = await _owner("k@example.com")
    a = await _assistant(p)
    ids = {}
    for name, (data, _, _) in _files().items():
        ids[name] = (await sources.add_file(p, a, name, data)).id
    for name, doc_id in ids.items():
        doc = await _wait_status(doc_id, {"ready", "failed"})
        assert doc.status == "ready", f"{name}: {doc.error}"
        assert doc.chunk_count >= 1 and doc.progress == 100
    for name, (_, question, phrase) in _files().items():
        found = await retrieval.retrieve(p.workspace_id, a, question)
        assert any(phrase in x.content for x in found.passages[:5]), (name, found.passages[:2])
    async with session_scope() as s:
        html = (await s.exec(select(KnowledgeChunk).where(
            KnowledgeChunk.document_id == ids["faq.html"]))).all()
    assert all("evil()" not in c.content for c in html)


async def test_bad_uploads_are_refused_with_clear_errors(clean: None) -> None:
    p = await _owner("bad@example.com")
    a = await _assistant(p)
    with pytest.raises(ValidationFailed, match=r"(?i)pdf"):
        await sources.add_file(p, a, "broken.pdf", b"%PDF-1.7\n garbage without structure")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"\0" * (150 * 1024 * 1024))
    with pytest.raises(ValidationFailed, match=r"(?i)unsafe|expand"):
        await sources.add_file(p, a, "report.docx", bomb.getvalue())
    with pytest.raises(ValidationFailed, match=r"MB"):
        await sources.add_file(p, a, "huge.txt", b"a" * (21 * 1024 * 1024))
    with pytest.raises(ValidationFailed):
        await sources.add_file(p, a, "notes.txt", b"\x00\x01\x02binary")
    assert await sources.list_documents(p, a) == []
    stored = file_store.get_store().list(file_store.workspace_prefix(p.workspace_id))
    assert [f async for f in stored] == []  # nothing stored


async def test_the_same_content_twice_is_detected(clean: None) -> None:
    p = await _owner("dup@example.com")
    a = await _assistant(p)
    await sources.add_file(p, a, "a.txt", b"Shipping takes three days.")
    with pytest.raises(Conflict, match="already in the knowledge base"):
        await sources.add_file(p, a, "copy.txt", b"Shipping takes three days.")


async def test_workspace_storage_quota_is_enforced(clean: None) -> None:
    p = await _owner("quota@example.com")
    a = await _assistant(p)
    async with session_scope() as s:
        ws = await s.get(Workspace, p.workspace_id)
        assert ws is not None
        ws.storage_quota_bytes = 100
        s.add(ws)
    with pytest.raises(ValidationFailed, match="knowledge storage"):
        await sources.add_file(p, a, "a.txt", b"x " * 80)


async def test_deleted_source_disappears_from_answers_at_once(worker: None) -> None:
    p = await _owner("del@example.com")
    a = await _assistant(p)
    doc = await sources.add_file(p, a, "pets.txt", b"Our office allows dogs on Fridays.")
    await _wait_status(doc.id, {"ready"})
    assert (await retrieval.retrieve(p.workspace_id, a, "are dogs allowed")).passages
    await sources.delete_document(p, doc.id)
    assert (await retrieval.retrieve(p.workspace_id, a, "are dogs allowed")).passages == []


async def test_retrieval_never_crosses_workspaces_or_assistants(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """B's many near-identical chunks never reach A, and A's few chunks are always found
    (a small knowledge base is searched exactly: the shared HNSW graph, crowded with B's
    near-duplicates, sometimes left A's chunks unreachable). The filtered HNSW path, used
    for large knowledge bases, keeps the wall too."""
    a_owner = await _owner("a@example.com")
    b_owner = await _owner("b@example.com")
    a1 = await _assistant(a_owner, "A one")
    a2 = await _assistant(a_owner, "A two")
    b1 = await _assistant(b_owner, "B one")
    emb = get_default_embedder()
    phrase = "The refund window is fourteen days from delivery."
    [vec] = await emb.embed([phrase])
    async with session_scope() as s:
        docs = {}
        for ws, asst in ((a_owner.workspace_id, a1), (a_owner.workspace_id, a2),
                         (b_owner.workspace_id, b1)):
            d = KnowledgeDocument(workspace_id=ws, assistant_id=asst, title=f"doc {asst}",
                                  source_type="txt", status="ready")
            s.add(d)
            await s.flush()
            docs[asst] = d.id
        await s.commit()
        # 3,000 chunks for B, all nearly the query; 3 for A's first assistant; 1 for A two.
        rows = [{"ws": b_owner.workspace_id, "a": b1, "d": docs[b1], "p": i,
                 "c": f"B secret {i}: {phrase}",
                 "e": "[" + ",".join(f"{x + (i % 7) * 1e-4:.6f}" for x in vec) + "]"}
                for i in range(3000)]
        rows += [{"ws": a_owner.workspace_id, "a": a1, "d": docs[a1], "p": i,
                  "c": f"A fact {i}: {phrase}", "e": "[" + ",".join(f"{x:.6f}" for x in vec) + "]"}
                 for i in range(3)]
        rows.append({"ws": a_owner.workspace_id, "a": a2, "d": docs[a2], "p": 0,
                     "c": f"A two: {phrase}", "e": "[" + ",".join(f"{x:.6f}" for x in vec) + "]"})
        await s.exec(text(  # type: ignore[call-overload]
            "INSERT INTO knowledge_chunks (workspace_id, assistant_id, document_id, position, "
            "heading_path, content, token_count, embedder, embedding, tsv, created_at) VALUES "
            "(:ws, :a, :d, :p, '', CAST(:c AS text), 10, 'test', CAST(:e AS vector), "
            "to_tsvector('english', CAST(:c AS text)), now())"), params=rows)
    got = await retrieval.retrieve(a_owner.workspace_id, a1, phrase, k=10)
    assert [p.content[:6] for p in got.passages] == ["A fact"] * 3
    for mode in ("vector", "text"):
        only = await retrieval.retrieve(a_owner.workspace_id, a1, phrase, k=10, mode=mode)
        assert only.passages and all(p.content.startswith("A fact") for p in only.passages)
    b_view = await retrieval.retrieve(b_owner.workspace_id, b1, phrase, k=10)
    assert b_view.passages and all(p.content.startswith("B secret") for p in b_view.passages)
    monkeypatch.setattr(retrieval, "EXACT_MAX_CHUNKS", 0)  # every search through HNSW
    for ws, assistant, prefix in ((a_owner.workspace_id, a1, "A fact"),
                                  (b_owner.workspace_id, b1, "B secret")):
        hnsw = await retrieval.retrieve(ws, assistant, phrase, k=10, mode="vector")
        assert all(p.content.startswith(prefix) for p in hnsw.passages)


async def test_qa_pairs_take_precedence_when_they_match(clean: None) -> None:
    p = await _owner("qa@example.com")
    a = await _assistant(p)
    await sources.save_qa(p, a, None, "Do you ship to Canada?", "Yes, in 5–7 business days.")
    got = await retrieval.retrieve(p.workspace_id, a, "Do you ship to Canada?")
    assert got.qa is not None and got.qa.answer.startswith("Yes")
    assert got.qa_first
    other = await _owner("qa2@example.com")
    a_other = await _assistant(other)
    assert (await retrieval.retrieve(other.workspace_id, a_other, "ship to Canada?")).qa is None


async def test_a_job_killed_mid_way_resumes_and_finishes(clean: None, tmp_path: Path) -> None:
    """SIGKILL the jobs process while it embeds; a new one requeues the stalled job."""
    p = await _owner("kill@example.com")
    a = await _assistant(p)
    md = "\n\n".join(f"## Section {i}\n\n" + " ".join(
        f"Item {i}-{j} explains how billing, refunds and invoices work for plan {j}."
        for j in range(12)) for i in range(40))
    doc = await sources.add_file(p, a, "big.md", md.encode())
    env = {**os.environ, "REPLYX_JOBS_STALLED_SECONDS": "3", "REPLYX_JOBS_HEARTBEAT_SECONDS": "1",
           "REPLYX_HEARTBEAT_SECONDS": "1", "PYTHONUNBUFFERED": "1"}
    log = (tmp_path / "jobs1.log").open("wb")
    first = subprocess.Popen([sys.executable, "-m", "replyx_app.cli", "jobs"], cwd=ROOT, env=env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await _wait_status(doc.id, {"embedding"}, timeout=120)
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
    async with session_scope() as s:
        assert (await s.exec(select(KnowledgeChunk).where(
            KnowledgeChunk.document_id == doc.id))).first() is None  # nothing half-visible
    log2 = (tmp_path / "jobs2.log").open("wb")
    second = subprocess.Popen([sys.executable, "-m", "replyx_app.cli", "jobs"], cwd=ROOT,
                              env=env, stdout=log2, stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        done = await _wait_status(doc.id, {"ready", "failed"}, timeout=240)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)
    assert done.status == "ready", done.error
    assert done.chunk_count >= 30
