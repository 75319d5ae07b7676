"""Retrieval quality on a bilingual help centre: recall@k and MRR for vector, text, hybrid.

Why: retrieval decides what the assistant can answer. This measures the real pipeline —
the documents in bench/corpus/kb/ go through `ingest.run_ingestion` (extract → chunk with
the embedder's tokenizer → embed → chunks with their tsvector) into a private embedded
PostgreSQL, and the questions in bench/corpus/questions.json are asked through
`retrieval.retrieve(..., mode=vector|text|hybrid)`.

A question counts as answered at rank r when the r-th passage comes from the expected
document and contains one of the expected answer phrases (whitespace and case folded).
Reported: recall@1, recall@5 (target for hybrid: >= 0.9) and MRR@10, for all questions,
per language (en, ru) and per style (visitor sentences, search-box keywords), plus each
question's rank per mode.

It also measures alternatives without touching backend_services (`--no-variants` skips
them): other full-text query constructions, RRF weights and constants, candidate counts
and, with `--chunk-sizes 300,150`, other chunk sizes (each size is a separate assistant,
ingested with that assistant's `chunk_max_tokens`). The failures of the shipped hybrid
mode are listed so they can be read.

Run (1-4 minutes on 2 cores, mostly embedding; about twice that with two chunk sizes):

    .venv/bin/python bench/retrieval_quality.py > bench/out/retrieval_quality.json
    .venv/bin/python bench/retrieval_quality.py --chunk-sizes 300,150 > bench/out/rq.json

Prints JSON to stdout, progress to stderr, draws bench/out/retrieval_quality.png (and
retrieval_quality_variants.png). Needs matplotlib (the `bench` extra) for the plots only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdb import OUT, ROOT, bench_database, log, machine_info

CORPUS = ROOT / "bench" / "corpus"
MAX_N = 100  # candidates fetched once per question; variants use prefixes of these lists
K_EVAL = 10  # MRR@10; recall@1 and @5 come from the same top 10

Row = tuple[Any, ...]


def norm(text: str) -> str:
    return " ".join(text.split()).casefold()


@dataclass
class Question:
    id: str
    language: str  # en | ru
    style: str  # question (a visitor's sentence) | keywords (a search-box query)
    question: str
    answers: list[tuple[str, str]]  # (document stem, normalised phrase)


def load_questions(path: Path) -> list[Question]:
    raw = json.loads(path.read_text())
    return [
        Question(q["id"], q["language"], q.get("style", "question"), q["question"],
                 [(a["doc"], norm(a["phrase"])) for a in q["answers"]])
        for q in raw
    ]


@dataclass
class Kb:
    """One ingested copy of the corpus: an assistant with its own chunk size."""

    max_tokens: int
    overlap: int
    workspace_id: int
    assistant_id: int
    doc_stem: dict[int, str] = field(default_factory=dict)
    chunks: int = 0
    tokens: int = 0
    seconds: float = 0.0


def is_hit(q: Question, doc_stem: str, content: str) -> bool:
    text = norm(content)
    return any(stem == doc_stem and phrase in text for stem, phrase in q.answers)


def first_hit(q: Question, ranked: Sequence[tuple[int, str]], stems: dict[int, str]) -> int | None:
    """1-based rank of the first answering passage among (document_id, content) pairs."""
    for rank, (doc_id, content) in enumerate(ranked[:K_EVAL], start=1):
        if is_hit(q, stems.get(doc_id, ""), content):
            return rank
    return None


def metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "recall@1": round(sum(1 for r in ranks if r is not None and r <= 1) / n, 3),
        "recall@5": round(sum(1 for r in ranks if r is not None and r <= 5) / n, 3),
        "mrr@10": round(sum(1.0 / r for r in ranks if r is not None) / n, 3),
        "n": len(ranks),
    }


def by_group(questions: list[Question], ranks: list[int | None]) -> dict[str, Any]:
    """Metrics for all questions, per language (en, ru) and per style (question, keywords)."""
    out: dict[str, Any] = {"all": metrics(ranks)}
    pairs = list(zip(questions, ranks, strict=True))
    for lang in sorted({q.language for q in questions}):
        out[lang] = metrics([r for q, r in pairs if q.language == lang])
    for style in sorted({q.style for q in questions}):
        out[style] = metrics([r for q, r in pairs if q.style == style])
    return out


# --- ingestion through the real job body ------------------------------------------------


async def ingest(workspace_id: int, files: list[Path], max_tokens: int, overlap: int) -> Kb:
    from backend_services.core import file_store
    from backend_services.core.db import session_scope
    from backend_services.knowledge import ingest as ingest_mod
    from backend_services.models import Assistant, KnowledgeDocument

    async with session_scope() as s:
        a = Assistant(workspace_id=workspace_id, name=f"bench {max_tokens}",
                      chunk_max_tokens=max_tokens, chunk_overlap_tokens=overlap)
        s.add(a)
        await s.flush()
        assert a.id is not None
        kb = Kb(max_tokens, overlap, workspace_id, a.id)
    started = time.perf_counter()
    for path in files:
        data = path.read_bytes()
        stored = f"{uuid.uuid4().hex}.md"
        await file_store.get_store().put(file_store.upload_key(workspace_id, stored), data)
        async with session_scope() as s:
            doc = KnowledgeDocument(workspace_id=workspace_id, assistant_id=kb.assistant_id,
                                    title=path.name, source_type="md", stored_name=stored,
                                    size_bytes=len(data), status="queued")
            s.add(doc)
            await s.flush()
            assert doc.id is not None
            doc_id = doc.id
        status = await ingest_mod.run_ingestion(doc_id)
        if status != "ready":
            raise RuntimeError(f"{path.name}: ingestion ended as {status}")
        kb.doc_stem[doc_id] = path.stem
        async with session_scope() as s:
            done = await s.get(KnowledgeDocument, doc_id)
            assert done is not None
            kb.chunks += done.chunk_count
            kb.tokens += done.token_count
        log(f"  [{max_tokens} tokens] {path.name}: {done.chunk_count} chunks")
    kb.seconds = round(time.perf_counter() - started, 1)
    return kb


async def check_phrases(kb: Kb, questions: list[Question]) -> list[str]:
    """Every expected phrase must exist in some chunk, or the question cannot be answered."""
    from sqlalchemy import text

    from backend_services.core.db import session_scope

    async with session_scope() as s:
        rows = list(await s.exec(  # type: ignore[call-overload]
            text("SELECT document_id, content FROM knowledge_chunks WHERE assistant_id = :a"),
            params={"a": kb.assistant_id}))
    chunks = [(kb.doc_stem[d], norm(c)) for d, c in rows]
    missing = []
    for q in questions:
        for stem, phrase in q.answers:
            if not any(s == stem and phrase in c for s, c in chunks):
                missing.append(f"{q.id}: {stem}: {phrase!r}")
    return missing


# --- alternative full-text queries (prototypes; production uses retrieval._TEXT_SQL) ------


def _text_sql(tsq: str, rank: str) -> Any:
    from sqlalchemy import text

    return text(f"""
        WITH q AS (SELECT {tsq} AS tsq)
        SELECT c.id, c.document_id, d.title, c.heading_path, c.content, {rank} AS rank
        FROM knowledge_chunks c
        JOIN knowledge_documents d ON d.id = c.document_id, q
        WHERE c.workspace_id = :ws AND c.assistant_id = :a AND d.status = 'ready'
          AND c.tsv @@ q.tsq
        ORDER BY rank DESC, c.id
        LIMIT :n""")


# plainto_tsquery gives the stemmed, stop-word-free lexemes joined by AND; turning the
# ANDs into ORs matches chunks that contain *some* of the question's words.
_OR = ("CAST(replace(CAST(plainto_tsquery('{cfg}', :query) AS text), ' & ', ' | ') AS tsquery)")
TEXT_VARIANTS: dict[str, Any] = {}


def text_variants() -> dict[str, Any]:
    if not TEXT_VARIANTS:
        or_both = f"{_OR.format(cfg='english')} || {_OR.format(cfg='russian')}"
        TEXT_VARIANTS.update({
            # the AND of the words (websearch syntax): what production used before 0003
            "and_rank_cd": _text_sql(
                "websearch_to_tsquery('english', :query) || "
                "websearch_to_tsquery('russian', :query)", "ts_rank_cd(c.tsv, q.tsq)"),
            # OR of the words, ranked by cover density (production's query today)
            "or_rank_cd": _text_sql(or_both, "ts_rank_cd(c.tsv, q.tsq)"),
            # OR of the words, ranked by term frequency, normalised by log of the length
            "or_rank_len": _text_sql(or_both, "ts_rank(c.tsv, q.tsq, 1)"),
        })
    return TEXT_VARIANTS


async def fetch_candidates(kb: Kb, q: Question, vector: list[float]) -> dict[str, list[Row]]:
    from backend_services.core.db import session_scope
    from backend_services.knowledge import retrieval

    out: dict[str, list[Row]] = {}
    async with session_scope() as s:
        out["vector"] = await retrieval.vector_search(s, kb.workspace_id, kb.assistant_id,
                                                      vector, MAX_N)
        out["text"] = await retrieval.text_search(s, kb.workspace_id, kb.assistant_id,
                                                  q.question, MAX_N)
        for name, sql in text_variants().items():
            rows = await s.exec(sql, params={  # type: ignore[call-overload]
                "query": q.question, "ws": kb.workspace_id, "a": kb.assistant_id, "n": MAX_N})
            out[name] = [tuple(r) for r in rows]
    return out


def rrf(vrows: list[Row], trows: list[Row], *, k: int, wv: float = 1.0, wt: float = 1.0,
        top: int = K_EVAL) -> list[Row]:
    """Weighted reciprocal rank fusion (wv = wt = 1 is retrieval.fuse)."""
    scores: dict[int, float] = {}
    rows: dict[int, Row] = {}
    for rank, row in enumerate(vrows, start=1):
        scores[row[0]] = scores.get(row[0], 0.0) + wv / (k + rank)
        rows.setdefault(row[0], row)
    for rank, row in enumerate(trows, start=1):
        scores[row[0]] = scores.get(row[0], 0.0) + wt / (k + rank)
        rows.setdefault(row[0], row)
    ranked = sorted(scores, key=lambda i: scores[i], reverse=True)[:top]
    return [rows[i] for i in ranked]


Strategy = Callable[[dict[str, list[Row]]], list[Row]]
# what production did before migration 0003 (AND full text, k=60), drawn for comparison
BEFORE = "before 0003: hybrid (AND, k=60, 1:1, 40+40)"
BEFORE_TEXT = "before 0003: text only (websearch, AND)"


def _hybrid(text_key: str, k: int, wv: float, wt: float, n: int) -> Strategy:
    return lambda c: rrf(c["vector"][:n], c[text_key][:n], k=k, wv=wv, wt=wt)


def strategies() -> dict[str, Strategy]:
    """Name → how to rank one question's candidates. "shipped" = backend_services today."""
    from backend_services.knowledge import retrieval

    n, k = retrieval.CANDIDATES, retrieval.RRF_K
    wt = retrieval.TEXT_WEIGHT
    s: dict[str, Strategy] = {
        "shipped: vector only": lambda c: c["vector"][:n],
        "shipped: text only (OR, ts_rank_cd)": lambda c: c["text"][:n],
        f"shipped: hybrid (OR, RRF k={k}, 1:{wt:g}, {n}+{n})": _hybrid("text", k, 1, wt, n),
        "before 0003: text only (websearch, AND)": lambda c: c["and_rank_cd"][:n],
        f"before 0003: hybrid (AND, k=60, 1:1, {n}+{n})": _hybrid("and_rank_cd", 60, 1, 1, n),
        "text only, OR, ts_rank norm=1": lambda c: c["or_rank_len"][:n],
        f"hybrid AND, k=5, 1:0.5, {n}+{n}": _hybrid("and_rank_cd", 5, 1, 0.5, n),
    }
    for key, label in (("or_rank_cd", "OR+rank_cd"), ("or_rank_len", "OR+rank norm1")):
        for kk, wt in ((60, 1.0), (60, 0.5), (20, 0.5), (5, 1.0), (5, 0.5), (5, 0.3)):
            s[f"hybrid {label}, k={kk}, 1:{wt:g}, {n}+{n}"] = _hybrid(key, kk, 1, wt, n)
    # AND first (precise for search-box keywords), OR only when AND matches nothing
    for kk, wt in ((60, 1.0), (5, 0.5)):
        s[f"hybrid AND, else OR+rank_cd, k={kk}, 1:{wt:g}, {n}+{n}"] = (
            lambda c, kk=kk, wt=wt: rrf(c["vector"][:n],
                                        (c["and_rank_cd"] or c["or_rank_cd"])[:n],
                                        k=kk, wv=1, wt=wt))
    for nn in (10, 20, 100):
        s[f"hybrid OR+rank_cd, k=5, 1:0.5, {nn}+{nn}"] = _hybrid("or_rank_cd", 5, 1, 0.5, nn)
    return s


# --- the run --------------------------------------------------------------------------------


async def evaluate_shipped(kb: Kb, questions: list[Question]) -> dict[str, Any]:
    """The production entry point, retrieval.retrieve, once per mode."""
    from backend_services.knowledge import retrieval
    from backend_services.knowledge.embeddings import get_default_embedder

    embedder = get_default_embedder()
    result: dict[str, Any] = {}
    details: dict[str, list[dict[str, Any]]] = {}
    for mode in ("vector", "text", "hybrid"):
        ranks: list[int | None] = []
        rows: list[dict[str, Any]] = []
        started = time.perf_counter()
        for q in questions:
            got = await retrieval.retrieve(kb.workspace_id, kb.assistant_id, q.question,
                                           k=K_EVAL, embedder=embedder, mode=mode)
            ranked = [(p.document_id, p.content) for p in got.passages]
            rank = first_hit(q, ranked, kb.doc_stem)
            ranks.append(rank)
            rows.append({
                "id": q.id, "question": q.question, "rank": rank,
                "expected": sorted({stem for stem, _ in q.answers}),
                "top3": [f"{kb.doc_stem.get(p.document_id, '?')} › {p.heading_path}"
                         f" (v{p.vector_rank}/t{p.text_rank})" for p in got.passages[:3]],
            })
        result[mode] = by_group(questions, ranks)
        result[mode]["ms_per_query"] = round(
            1000 * (time.perf_counter() - started) / len(questions), 1)
        details[mode] = rows
    result["_details"] = details
    return result


async def evaluate_variants(kb: Kb, questions: list[Question]) -> dict[str, Any]:
    from backend_services.knowledge.embeddings import get_default_embedder

    embedder = get_default_embedder()
    vectors = await embedder.embed_queries([q.question for q in questions])
    cands = [await fetch_candidates(kb, q, v) for q, v in zip(questions, vectors, strict=True)]
    out: dict[str, Any] = {}
    for name, strategy in strategies().items():
        ranks = []
        for q, c in zip(questions, cands, strict=True):
            ranked = [(r[1], r[4]) for r in strategy(c)]
            ranks.append(first_hit(q, ranked, kb.doc_stem))
        out[name] = by_group(questions, ranks)
    # where the answer sits in each candidate list (up to MAX_N) for questions the shipped
    # hybrid misses in its top 5: tells a ranking problem from a matching problem
    shipped_hybrid = next(v for n, v in strategies().items() if n.startswith("shipped: hybrid"))
    diagnosis = []
    for q, c in zip(questions, cands, strict=True):
        rank = first_hit(q, [(r[1], r[4]) for r in shipped_hybrid(c)], kb.doc_stem)
        if rank is not None and rank <= 5:
            continue
        where = {}
        for key in ("vector", "text", "or_rank_cd", "or_rank_len"):
            where[key] = next((i for i, r in enumerate(c[key], start=1)
                               if is_hit(q, kb.doc_stem.get(r[1], ""), r[4])), None)
        diagnosis.append({"id": q.id, "question": q.question, "hybrid_rank": rank,
                          "answer_rank_in": where})
    out["_shipped_hybrid_misses"] = diagnosis
    # how often each text query finds anything at all: AND queries often match nothing
    for key in ("text", "or_rank_cd"):
        empty = sum(1 for c in cands if not c[key])
        out.setdefault("_text_no_match", {})[key] = f"{empty}/{len(cands)}"
    return out


def plot(shipped: dict[str, Any], variants: dict[str, Any] | None, path: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib is not installed (pip install -e '.[bench]'): no plots")
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    groups = {"vector": shipped["vector"], "text": shipped["text"], "hybrid": shipped["hybrid"]}
    for label, name in (("text, AND\n(before)", BEFORE_TEXT), ("hybrid\n(before)", BEFORE)):
        if variants and name in variants:
            groups[label] = variants[name]
    langs = [g for g in ("en", "ru", "question", "keywords", "all") if g in shipped["hybrid"]]
    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5))
    width = 0.8 / len(langs)
    for ax, metric in zip(axes, ("recall@5", "mrr@10"), strict=True):
        for i, lang in enumerate(langs):
            values = [g[lang][metric] for g in groups.values()]
            xs = [j + (i - (len(langs) - 1) / 2) * width for j in range(len(groups))]
            bars = ax.bar(xs, values, width, label=lang)
            ax.bar_label(bars, fmt="%.2f", fontsize=6)
        ax.set_xticks(range(len(groups)), list(groups))
        ax.set_ylim(0, 1.12)
        ax.set_ylabel(metric)
        if metric == "recall@5":
            ax.axhline(0.9, color="grey", linestyle="--", linewidth=0.8)
            ax.legend(fontsize=8, loc="upper center", ncol=len(langs),
                      bbox_to_anchor=(0.5, 1.16))
    fig.suptitle("Retrieval quality: shipped modes and the AND / k=60 fusion they replaced "
                 "(bench/corpus, real ingestion pipeline)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    files = [str(path)]
    if variants:
        names = [n for n in variants if not n.startswith("_")]
        names.sort(key=lambda n: variants[n]["all"]["recall@5"])
        fig, ax = plt.subplots(figsize=(9, 0.22 * len(names) + 1.2))
        ax.barh(range(len(names)), [variants[n]["all"]["recall@5"] for n in names],
                color=["tab:orange" if n.startswith("shipped") else "tab:blue" for n in names])
        ax.set_yticks(range(len(names)), names, fontsize=6)
        ax.set_xlim(0, 1)
        ax.axvline(0.9, color="grey", linestyle="--", linewidth=0.8)
        ax.set_xlabel("recall@5 (all questions)")
        ax.set_title("Retrieval variants (orange = as shipped)")
        fig.tight_layout()
        vpath = path.with_name(path.stem + "_variants.png")
        fig.savefig(vpath, dpi=120)
        plt.close(fig)
        files.append(str(vpath))
    return files


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from backend_services.core.db import dispose_engine, session_scope
    from backend_services.knowledge.embeddings import get_default_embedder
    from backend_services.models import Workspace

    questions = load_questions(args.questions)
    files = sorted(p for p in args.corpus.glob("*.md"))
    embedder = get_default_embedder()
    result: dict[str, Any] = {
        "benchmark": "retrieval_quality",
        "machine": machine_info(),
        "embedder": embedder.name,
        "corpus": {"documents": len(files), "questions": len(questions),
                   "by_language": {lang: sum(1 for q in questions if q.language == lang)
                                   for lang in sorted({q.language for q in questions})},
                   "by_style": {st: sum(1 for q in questions if q.style == st)
                                for st in sorted({q.style for q in questions})}},
        "hit_rule": "passage from the expected document containing an expected phrase",
    }
    try:
        async with session_scope() as s:
            ws = Workspace(name="bench")
            s.add(ws)
            await s.flush()
            assert ws.id is not None
            workspace_id = ws.id
        runs: dict[str, Any] = {}
        for size in args.chunk_sizes:
            overlap = max(10, size * 40 // 300)
            log(f"ingesting {len(files)} documents, chunk_max_tokens={size}, overlap={overlap}")
            kb = await ingest(workspace_id, files, size, overlap)
            missing = await check_phrases(kb, questions)
            if missing:
                log("answer phrases not found in any chunk:\n  " + "\n  ".join(missing))
            run: dict[str, Any] = {
                "chunk_max_tokens": size, "chunk_overlap_tokens": overlap,
                "chunks": kb.chunks, "tokens": kb.tokens,
                "avg_tokens_per_chunk": round(kb.tokens / max(kb.chunks, 1), 1),
                "ingest_seconds": kb.seconds, "phrases_missing": missing,
            }
            log("evaluating retrieval.retrieve in modes vector, text, hybrid")
            shipped = await evaluate_shipped(kb, questions)
            details = shipped.pop("_details")
            run["modes"] = shipped
            run["ranks"] = {q.id: {mode: details[mode][i]["rank"] for mode in details}
                            for i, q in enumerate(questions)}
            run["hybrid_failures"] = [d for d in details["hybrid"]
                                      if d["rank"] is None or d["rank"] > 5]
            if not args.no_variants:
                log("evaluating variants")
                run["variants"] = await evaluate_variants(kb, questions)
            runs[str(size)] = run
        result["runs"] = runs
        main = runs[str(args.chunk_sizes[0])]
        hybrid = main["modes"]["hybrid"]["all"]["recall@5"]
        result["target"] = {"hybrid_recall@5": 0.9, "measured": hybrid, "met": hybrid >= 0.9}
        result["plots"] = plot(main["modes"], main.get("variants"),
                               args.out / "retrieval_quality.png")
    finally:
        await dispose_engine()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS / "kb")
    parser.add_argument("--questions", type=Path, default=CORPUS / "questions.json")
    parser.add_argument("--chunk-sizes", default="300",
                        help="comma-separated chunk_max_tokens values; the first is reported "
                             "as the main result (300 = the assistant default)")
    parser.add_argument("--no-variants", action="store_true")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.chunk_sizes = [int(x) for x in re.split(r"[,\s]+", args.chunk_sizes) if x]
    with bench_database("replyx_bench_quality"):
        result = asyncio.run(main_async(args))
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
