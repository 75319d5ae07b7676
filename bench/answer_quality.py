"""Answer judgement on labelled sets nobody tuned to: answer, say "I don't know", or call a person.

Why: what a support assistant is bought for is judgement (issue 13). This runs the real
pipeline over all 24 pages of shared/sample-knowledge (ingested through
`ingest.run_ingestion` into a private embedded PostgreSQL) and the sets in
bench/corpus/answer_quality/ (written before any tuning; see its README), one split at a
time: tune on `dev`, report `test`.

Measured, in extractive mode (no model configured), per split:
- retrieval of answerable questions: recall@1, recall@5, MRR@10 (a question needing two
  passages counts at the rank where the last of them is found), per language and kind;
- the reply: refusal rate on off-knowledge questions (the visitor is told "I don't know"
  and offered a person) and false-refusal rate on answerable ones; whether the quoted
  passage is the one that answers (answered-right rate); the AUC of the answer's
  confidence as a separator of answerable from off-knowledge questions;
- handoff intent: precision and recall of "the visitor asks for a person" per language
  and kind (near misses must not hand over);
- small talk: share that gets a friendly reply (not "I don't know", no handoff); a greeting
  that carries a question must be treated as the question;
- knowledge safety: poisoned snippets added to the knowledge, share quoted to a visitor;
  clean look-alikes, share still quoted when asked about;
- CPU seconds per question.

A passage "answers" when it comes from the quoted page (or a page listed in `also_in`) and
holds the quote, or most of it when a chunk boundary cuts the quote (see `holds_quote`).

Run (about 5-10 minutes on 2 cores, mostly embedding the 24 pages):

    .venv/bin/python bench/answer_quality.py --split dev > bench/out/answer_quality_dev.json
    .venv/bin/python bench/answer_quality.py --split test > bench/out/answer_quality_test.json

Prints JSON to stdout (a summary table to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _benchdb import ROOT, bench_database, log, machine_info

SETS = ROOT / "bench" / "corpus" / "answer_quality"
KNOWLEDGE = ROOT.parent / "shared" / "sample-knowledge"
if not KNOWLEDGE.is_dir():
    KNOWLEDGE = Path("/work/shared/sample-knowledge")
K_EVAL = 10
# The two companies' own sites (where their widget would run, and their mail domains).
OWN_SITES = ["https://plausible.io", "https://cloud.vk.ru", "https://vk.com",
             "https://vk.company", "https://mcs.mail.ru"]
# A chunk boundary may cut a quote: holding this share of it (as one run) still counts.
QUOTE_SHARE = 0.6


def norm(text: str) -> str:
    return " ".join(text.split()).casefold().replace("ё", "е")


def holds_quote(content: str, quote: str) -> bool:
    c, q = norm(content), norm(quote)
    if q in c:
        return True
    m = SequenceMatcher(None, c, q, autojunk=False).find_longest_match(0, len(c), 0, len(q))
    return m.size >= max(40, QUOTE_SHARE * len(q))


def load(name: str, split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (SETS / name).read_text().splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


@dataclass
class Kb:
    workspace_id: int
    assistant_id: int
    doc_of: dict[int, str] = field(default_factory=dict)  # document id -> "folder/file.md"
    chunks: int = 0
    seconds: float = 0.0


async def ingest(workspace_id: int, name: str, docs: Sequence[tuple[str, bytes]],
                 chunk_tokens: int = 300) -> Kb:
    """An assistant holding `docs` ((label, markdown)), each through the real job body."""
    from sqlmodel import col, select

    from backend_services.core import file_store
    from backend_services.core.db import session_scope
    from backend_services.knowledge import ingest as ingest_mod
    from backend_services.models import Assistant, KnowledgeChunk, KnowledgeDocument
    from backend_services.models.widget import WidgetSettings

    async with session_scope() as s:
        a = Assistant(workspace_id=workspace_id, name=name, language="en",
                      chunk_max_tokens=chunk_tokens,
                      chunk_overlap_tokens=max(10, chunk_tokens * 40 // 300))
        s.add(a)
        await s.flush()
        assert a.id is not None
        kb = Kb(workspace_id, a.id)
        # The sites the widget runs on: the tenant's own, whose links are not flagged.
        s.add(WidgetSettings(workspace_id=workspace_id, assistant_id=a.id,
                             public_id=uuid.uuid4().hex[:20], allowed_origins=OWN_SITES))
    started = time.perf_counter()
    for label, data in docs:
        stored = f"{uuid.uuid4().hex}.md"
        await file_store.get_store().put(file_store.upload_key(workspace_id, stored), data)
        async with session_scope() as s:
            doc = KnowledgeDocument(workspace_id=workspace_id, assistant_id=kb.assistant_id,
                                    title=Path(label).name, source_type="md",
                                    stored_name=stored, size_bytes=len(data), status="queued")
            s.add(doc)
            await s.flush()
            assert doc.id is not None
            doc_id = doc.id
        status = await ingest_mod.run_ingestion(doc_id)
        if status != "ready":
            raise RuntimeError(f"{label}: ingestion ended as {status}")
        kb.doc_of[doc_id] = label
        async with session_scope() as s:
            done = await s.get(KnowledgeDocument, doc_id)
            assert done is not None
            kb.chunks += done.chunk_count
    kb.seconds = round(time.perf_counter() - started, 1)
    # The help-centre pages are the tenant's own reviewed content: what knowledge/flags.py
    # held in them (their own phone numbers and partner links) is approved, as an admin
    # would on the Knowledge page. Planted snippets stay as ingestion left them.
    pages_ids = [d for d, label in kb.doc_of.items() if not label.startswith("snippets/")]
    async with session_scope() as s:
        held = list(await s.exec(select(KnowledgeChunk).where(
            col(KnowledgeChunk.document_id).in_(pages_ids), col(KnowledgeChunk.held))))
        for chunk in held:
            chunk.held = False
            s.add(chunk)
    log(f"  {name}: {len(docs)} documents, {kb.chunks} chunks in {kb.seconds} s, "
        f"{len(held)} passages of the pages held for review (approved)")
    return kb


def pages() -> list[tuple[str, bytes]]:
    files = sorted(KNOWLEDGE.glob("*/*.md"))
    return [(f"{p.parent.name}/{p.name}", p.read_bytes()) for p in files]


# --------------------------------------------------------------------------- figures


def ratio(n: int, d: int) -> float | None:
    return round(n / d, 3) if d else None


def rank_metrics(ranks: Sequence[int | None]) -> dict[str, Any]:
    n = len(ranks)
    return {
        "n": n,
        "recall@1": ratio(sum(1 for r in ranks if r is not None and r <= 1), n),
        "recall@5": ratio(sum(1 for r in ranks if r is not None and r <= 5), n),
        "mrr@10": round(sum(1 / r for r in ranks if r is not None and r <= K_EVAL) / n, 3)
        if n else None,
    }


def auc(positive: Sequence[float], negative: Sequence[float]) -> float | None:
    """Probability that an answerable question scores above an off-knowledge one."""
    if not positive or not negative:
        return None
    wins = sum((p > q) + 0.5 * (p == q) for p in positive for q in negative)
    return round(wins / (len(positive) * len(negative)), 3)


def groups(rows: Sequence[dict[str, Any]], *keys: str) -> Iterable[tuple[str, list[int]]]:
    """("all", every index), then ("lang=en", …), ("kind=paraphrase", …) per key."""
    yield "all", list(range(len(rows)))
    for key in keys:
        for value in sorted({str(r[key]) for r in rows}):
            yield f"{key}={value}", [i for i, r in enumerate(rows) if str(r[key]) == value]


# --------------------------------------------------------------------------- the sets


def _hit_rank(kb: Kb, passages: Sequence[Any], answers: Sequence[dict[str, Any]],
              also: Sequence[str]) -> int | None:
    """Rank (1-based) at which every expected quote has been found, or None."""
    found: list[int] = []
    for a in answers:
        docs = {a["doc"], *also} if len(answers) == 1 else {a["doc"]}
        rank = next((i for i, p in enumerate(passages, start=1)
                     if kb.doc_of.get(p.document_id) in docs
                     and (holds_quote(p.content, a["quote"]) or kb.doc_of[p.document_id]
                          != a["doc"])), None)
        if rank is None:
            return None
        found.append(rank)
    return max(found)


def features(retrieval: Any) -> dict[str, Any]:
    """What the answer decision can look at, saved per question for tuning on dev."""
    sims = sorted((p.similarity for p in retrieval.passages), reverse=True)
    top = retrieval.passages[:3]
    terms = retrieval.terms
    whole = sum(terms.weights.values()) or 1.0
    return {
        "s1": round(sims[0], 4) if sims else 0.0,
        "s2": round(sims[1], 4) if len(sims) > 1 else 0.0,
        "qa": round(retrieval.qa.similarity, 4) if retrieval.qa else 0.0,
        "cov1": terms.of(top[0].chunk_id) if top else 0.0,
        "cov3": max((terms.of(p.chunk_id) for p in top), default=0.0),
        "missing": list(terms.missing),
        "missing_share": round(sum(terms.weights[t] for t in terms.missing) / whole, 3),
        "n_terms": len(terms.weights),
    }


async def run_answerable(kb: Kb, assistant: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from backend_services.knowledge import answers
    from backend_services.knowledge.retrieval import retrieve

    details = []
    for r in rows:
        retrieval = await retrieve(kb.workspace_id, kb.assistant_id, r["question"], k=K_EVAL)
        rank = _hit_rank(kb, retrieval.passages, r["answers"], r.get("also_in", []))
        docs = {a["doc"] for a in r["answers"]} | set(r.get("also_in", []))
        doc_rank = next((i for i, p in enumerate(retrieval.passages, start=1)
                         if kb.doc_of.get(p.document_id) in docs), None)
        final = await final_answer(answers, assistant, r["question"])
        quoted = [s for s in final.sources if s.kind == "document"]
        right = bool(quoted) and all(
            any(kb.doc_of.get(s.ref_id) == a["doc"] or kb.doc_of.get(s.ref_id)
                in r.get("also_in", []) for s in quoted) for a in r["answers"])
        details.append({"id": r["id"], "rank": rank, "doc_rank": doc_rank, "mode": final.mode,
                        "features": features(retrieval),
                        "confidence": final.confidence, "refused": final.mode == "unknown",
                        "right_source_quoted": right, "low_confidence": final.low_confidence})
    out: dict[str, Any] = {}
    for name, idx in groups(rows, "lang", "kind"):
        sub = [details[i] for i in idx]
        out[name] = {
            **rank_metrics([d["rank"] for d in sub]),
            "page_recall@5": rank_metrics([d["doc_rank"] for d in sub])["recall@5"],
            "false_refusal": ratio(sum(d["refused"] for d in sub), len(sub)),
            "answered_right": ratio(sum(d["right_source_quoted"] and not d["refused"]
                                        for d in sub), len(sub)),
            "handed_over_low_confidence": ratio(sum(d["low_confidence"] and not d["refused"]
                                                    for d in sub), len(sub)),
        }
    out["_details"] = details
    return out


async def final_answer(answers: Any, assistant: Any, text: str) -> Any:
    """The reply a visitor would get, intent first (small talk), as conversations.turns
    asks for it."""
    from backend_services.conversations import intent

    said = await intent.classify(text)
    final = None
    async for event in answers.answer(assistant, text, use_models=False,
                                      small_talk=said.detail if said.kind == "smalltalk"
                                      else ""):
        if isinstance(event, answers.Answer):
            final = event
    assert final is not None
    return final


async def run_off_knowledge(kb: Kb, assistant: Any,
                            rows: list[dict[str, Any]]) -> dict[str, Any]:
    from backend_services.knowledge import answers
    from backend_services.knowledge.retrieval import retrieve

    details = []
    for r in rows:
        retrieval = await retrieve(kb.workspace_id, kb.assistant_id, r["question"], k=K_EVAL)
        final = await final_answer(answers, assistant, r["question"])
        details.append({"id": r["id"], "mode": final.mode, "confidence": final.confidence,
                        "features": features(retrieval),
                        "refused": final.mode == "unknown",
                        "low_confidence": final.low_confidence,
                        "reply_language": answers.reply_language(assistant.language,
                                                                 r["question"])})
    out: dict[str, Any] = {}
    for name, idx in groups(rows, "lang", "kind"):
        sub = [details[i] for i in idx]
        out[name] = {
            "n": len(sub),
            "refusal": ratio(sum(d["refused"] for d in sub), len(sub)),
            "quoted_with_low_confidence": ratio(
                sum(d["low_confidence"] and not d["refused"] for d in sub), len(sub)),
            "quoted_confidently": ratio(
                sum(not d["low_confidence"] and not d["refused"] for d in sub), len(sub)),
        }
    out["_details"] = details
    return out


async def run_handoff(rows: list[dict[str, Any]]) -> dict[str, Any]:
    from backend_services.conversations import intent, policy

    default = policy.HandoffPolicy()
    predicted = [policy.trigger_for(default, r["text"],
                                    intent=await intent.classify(r["text"])) is not None
                 for r in rows]
    out: dict[str, Any] = {}
    for name, idx in groups(rows, "lang", "kind"):
        tp = sum(1 for i in idx if predicted[i] and rows[i]["handoff"])
        fp = sum(1 for i in idx if predicted[i] and not rows[i]["handoff"])
        fn = sum(1 for i in idx if not predicted[i] and rows[i]["handoff"])
        out[name] = {"n": len(idx), "precision": ratio(tp, tp + fp), "recall": ratio(tp, tp + fn),
                     "handed_over": ratio(tp + fp, len(idx))}
    out["_misses"] = [{"id": r["id"], "text": r["text"], "expected": r["handoff"]}
                      for r, p in zip(rows, predicted, strict=True) if p != r["handoff"]]
    return out


async def run_smalltalk(assistant: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    from backend_services.conversations import intent, policy
    from backend_services.knowledge import answers

    default = policy.HandoffPolicy()
    details = []
    for r in rows:
        final = await final_answer(answers, assistant, r["text"])
        said = await intent.classify(r["text"])
        handoff = (policy.trigger_for(default, r["text"], intent=said) is not None
                   or policy.trigger_for(default, "", answer_confidence=final.confidence,
                                         found_nothing=final.mode == "unknown") is not None)
        details.append({"id": r["id"], "kind": r["kind"], "mode": final.mode,
                        "friendly": final.mode != "unknown" and not handoff,
                        "handoff": handoff})
    plain = [d for d in details if d["kind"] != "greeting_with_question"]
    out: dict[str, Any] = {}
    for name, idx in groups([r for r in rows if r["kind"] != "greeting_with_question"],
                            "lang", "kind"):
        sub = [plain[i] for i in idx]
        out[name] = {"n": len(sub), "friendly": ratio(sum(d["friendly"] for d in sub), len(sub)),
                     "handed_over": ratio(sum(d["handoff"] for d in sub), len(sub))}
    out["_details"] = details
    return out


async def run_poisoned(kb: Kb, assistant: Any, poisoned: list[dict[str, Any]],
                       clean: list[dict[str, Any]]) -> dict[str, Any]:
    from backend_services.knowledge import answers

    def quoted(final: Any, label: str) -> bool:
        return any(s.kind == "document" and kb.doc_of.get(s.ref_id) == label
                   for s in final.sources)

    details = []
    for r in poisoned:
        final = await final_answer(answers, assistant, r["question"])
        details.append({"id": r["id"], "kind": r["kind"],
                        "quoted": quoted(final, f"snippets/{r['id']}.md")})
    clean_quoted = 0
    for r in clean:
        final = await final_answer(answers, assistant, r["text"])
        clean_quoted += quoted(final, f"snippets/{r['id']}.md")
    out: dict[str, Any] = {}
    for name, idx in groups(poisoned, "lang", "kind"):
        out[name] = {"n": len(idx),
                     "poisoned_quoted": ratio(sum(details[i]["quoted"] for i in idx), len(idx))}
    out["clean_quoted_when_asked"] = ratio(clean_quoted, len(clean))
    out["_details"] = details
    return out


# --------------------------------------------------------------------------- main


def snippet_doc(r: dict[str, Any]) -> tuple[str, bytes]:
    title = "Заметка" if r["lang"] == "ru" else "Note"
    return f"snippets/{r['id']}.md", f"# {title}\n\n{r['text']}\n".encode()


def summary(result: dict[str, Any]) -> str:
    a, o = result["answerable"]["all"], result["off_knowledge"]["all"]
    h, s, p = result["handoff"]["all"], result["smalltalk"]["all"], result["poisoned"]["all"]
    lines = [
        f"split {result['split']}: {a['n']} answerable, {o['n']} off-knowledge, "
        f"{h['n']} handoff, {s['n']} small talk, {p['n']} poisoned",
        f"  recall@1 {a['recall@1']}  recall@5 {a['recall@5']}  MRR {a['mrr@10']}",
        f"  refusal (off-knowledge) {o['refusal']}  false refusal {a['false_refusal']}  "
        f"answered right {a['answered_right']}  confidence AUC {result['confidence_auc']}",
        f"  handoff precision {h['precision']}  recall {h['recall']}",
        f"  small talk friendly {s['friendly']}  poisoned quoted {p['poisoned_quoted']}",
        f"  CPU {result['cpu_ms_per_question']} ms per question",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from backend_services.assistants.service import view_of
    from backend_services.core.db import dispose_engine, session_scope
    from backend_services.knowledge.embeddings import get_default_embedder
    from backend_services.models import Assistant, Workspace

    split = args.split
    sets = {name: load(f"{name}.jsonl", split)
            for name in ("answerable", "off_knowledge", "handoff", "smalltalk", "poisoned",
                         "clean")}
    result: dict[str, Any] = {
        "benchmark": "answer_quality", "split": split, "machine": machine_info(),
        "embedder": get_default_embedder().name, "mode": "extractive (no model)",
        "sizes": {k: len(v) for k, v in sets.items()},
    }
    try:
        async with session_scope() as s:
            ws = Workspace(name="bench")
            s.add(ws)
            await s.flush()
            assert ws.id is not None
            workspace_id = ws.id
        docs = pages()
        log(f"ingesting {len(docs)} pages")
        kb = await ingest(workspace_id, "knowledge", docs, args.chunk_tokens)
        log("ingesting the pages again with the poisoned and clean snippets")
        mixed = await ingest(workspace_id, "knowledge + snippets",
                             docs + [snippet_doc(r) for r in sets["poisoned"] + sets["clean"]],
                             args.chunk_tokens)

        async def view(kb_: Kb) -> Any:
            async with session_scope() as s:
                row = await s.get(Assistant, kb_.assistant_id)
                assert row is not None
                return view_of(row)

        assistant, mixed_assistant = await view(kb), await view(mixed)
        from backend_services.conversations import intent

        await intent.warm()  # as the web and fleet processes do at start
        cpu0, asked = time.process_time(), 0
        log(f"answerable: {len(sets['answerable'])}")
        result["answerable"] = await run_answerable(kb, assistant, sets["answerable"])
        log(f"off-knowledge: {len(sets['off_knowledge'])}")
        result["off_knowledge"] = await run_off_knowledge(kb, assistant, sets["off_knowledge"])
        asked += len(sets["answerable"]) + len(sets["off_knowledge"])
        result["cpu_ms_per_question"] = round(
            1000 * (time.process_time() - cpu0) / max(asked, 1), 1)
        result["confidence_auc"] = auc(
            [d["confidence"] for d in result["answerable"]["_details"]],
            [d["confidence"] for d in result["off_knowledge"]["_details"]])
        result["handoff"] = await run_handoff(sets["handoff"])
        log(f"small talk: {len(sets['smalltalk'])}")
        result["smalltalk"] = await run_smalltalk(assistant, sets["smalltalk"])
        log(f"poisoned: {len(sets['poisoned'])}, clean: {len(sets['clean'])}")
        result["poisoned"] = await run_poisoned(mixed, mixed_assistant, sets["poisoned"],
                                                sets["clean"])
    finally:
        await dispose_engine()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--chunk-tokens", type=int, default=300,
                        help="the assistants' chunk_max_tokens (300 = the default)")
    args = parser.parse_args()
    with bench_database("replyx_bench_answers"):
        result = asyncio.run(main_async(args))
    log(summary(result))
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
