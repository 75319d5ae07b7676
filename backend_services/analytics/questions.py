"""What visitors asked in a period, most asked first, and where each assistant could not
answer (with the way to the Knowledge page's "Unanswered" list, which groups them).

A conversation's question is its first visitor message that asks something (greetings,
thanks and requests for a person are not questions: conversations.intent); the roll-up
reads and embeds it once (analytics.rollup). Questions that ask the same thing are grouped
the way the quality loop groups gaps (knowledge.quality.group_vectors), so "where is my
parcel" and "my order hasn't arrived" count together. The newest MAX_QUESTIONS of the
period are grouped; nothing is embedded while the page waits.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text

from backend_services.analytics.period import Filters
from backend_services.assistants import service as assistants
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.knowledge import quality
from backend_services.knowledge.embeddings import Embedder, get_default_embedder
from backend_services.models import Role

MAX_QUESTIONS = 1000
TOP = 10

_QUESTIONS_SQL = text("""
SELECT dialog_id, question, question_vector FROM analytics_dialogs
WHERE workspace_id = :ws AND created_at >= :start AND created_at < :end
  AND (CAST(:a AS integer) IS NULL OR assistant_id = :a)
  AND (:ch = '' OR channel = :ch)
  AND question_read AND question <> '' AND question_embedder = :e
ORDER BY created_at DESC LIMIT :n
""")
# Per assistant: AI answers that did not answer, and conversations sent to a person.
_WEAK_SQL = text("""
SELECT h.assistant_id, sum(h.weak_answers) FROM analytics_hours h
WHERE h.workspace_id = :ws AND h.hour >= :start AND h.hour < :end
  AND (CAST(:a AS integer) IS NULL OR h.assistant_id = :a)
  AND (:ch = '' OR h.channel = :ch)
GROUP BY 1
""")
_HANDED_SQL = text("""
SELECT assistant_id, count(*) FROM analytics_dialogs
WHERE workspace_id = :ws AND created_at >= :start AND created_at < :end
  AND (CAST(:a AS integer) IS NULL OR assistant_id = :a)
  AND (:ch = '' OR channel = :ch) AND handed
GROUP BY 1
""")


@dataclass(frozen=True)
class Question:
    question: str  # the newest wording
    count: int  # conversations that opened with it
    share: float  # of the conversations whose question was read
    dialog_id: int  # the newest conversation that asked it


@dataclass(frozen=True)
class Unanswered:
    assistant_id: int
    assistant: str
    weak_answers: int  # AI answers that said "I don't know" or were unsure
    handed_over: int  # conversations that went to a person


@dataclass(frozen=True)
class Questions:
    top: list[Question]
    read: int  # conversations whose opening question was grouped
    unanswered: list[Unanswered]


async def questions(principal: Principal, filters: Filters,
                    embedder: Embedder | None = None) -> Questions:
    principal.require(Role.ADMIN)
    f = filters.clean()
    embedder = embedder or get_default_embedder()
    params = {"ws": principal.workspace_id, "start": f.start, "end": f.end,
              "a": f.assistant_id, "ch": f.channel}
    async with session_scope() as session:
        if f.assistant_id is not None:
            await assistants.in_scope(session, principal, f.assistant_id)
        rows = list(await session.exec(_QUESTIONS_SQL, params={  # type: ignore[call-overload]
            **params, "e": embedder.name, "n": MAX_QUESTIONS}))
        weak = dict(list(await session.exec(_WEAK_SQL, params=params)))  # type: ignore[call-overload]
        handed = dict(list(await session.exec(_HANDED_SQL, params=params)))  # type: ignore[call-overload]
    vectors = np.stack([np.frombuffer(r[2], dtype=np.float32) for r in rows]) if rows else (
        np.zeros((0, 0), dtype=np.float32))
    groups = await quality.group_vectors(vectors, embedder)
    groups.sort(key=lambda g: (len(g), -g[0]), reverse=True)  # most asked, then newest
    top = [Question(str(rows[g[0]][1]), len(g), round(len(g) / len(rows), 4),
                    int(rows[g[0]][0])) for g in groups[:TOP]]
    names = {a.id: a.name for a in await assistants.list_assistants(principal)}
    unanswered = [Unanswered(a, names[a], int(weak.get(a, 0)), int(handed.get(a, 0)))
                  for a in sorted(set(weak) | set(handed))
                  if a in names and (weak.get(a) or handed.get(a))]
    return Questions(top, len(rows), unanswered)


def csv_text(q: Questions, table: str = "questions") -> str:
    """The top questions, or (`table="unanswered"`) where each assistant could not answer."""
    out = io.StringIO()
    writer = csv.writer(out)
    if table == "unanswered":
        writer.writerow(("assistant", "unsure or unknown answers", "handed to a person"))
        for u in q.unanswered:
            writer.writerow((u.assistant, u.weak_answers, u.handed_over))
    else:
        writer.writerow(("question", "conversations", "share", "newest conversation"))
        for t in q.top:
            writer.writerow((t.question, t.count, f"{t.share:.4f}", t.dialog_id))
    return out.getvalue()
