"""What makes text findable: its embedding and its language-aware full-text vector."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import cast, func, literal
from sqlalchemy.dialects.postgresql import REGCONFIG
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.knowledge.embeddings import Embedder, get_default_embedder
from backend_services.models import QAPair

_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")


def text_search_config(text: str) -> str:
    """Stemming must match the text's language; a chunk is Russian if Cyrillic dominates."""
    cyr = len(_CYRILLIC.findall(text))
    lat = len(_LATIN.findall(text))
    return "russian" if cyr > lat else "english"


def tsvector_expr(text: str) -> Any:
    return func.to_tsvector(cast(literal(text_search_config(text)), REGCONFIG), text)


async def index_qa(
    session: AsyncSession, row: QAPair, embedder: Embedder | None = None
) -> None:
    embedder = embedder or get_default_embedder()
    # Matched against visitors' questions, so it is embedded as a query, not a passage.
    [vector] = await embedder.embed_queries([row.question])
    row.embedding = vector
    row.embedder = embedder.name
    row.tsv = tsvector_expr(f"{row.question}\n{row.answer}")
