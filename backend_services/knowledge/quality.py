"""The quality loop: what the assistant could not answer, and turning a person's answer
into knowledge.

Why: every support tool can show that a visitor was handed to a person; what the tenant
needs is what the knowledge lacks. `gaps` reads an assistant's recent conversations and
keeps the visitors' questions that got "I don't know", an answer with low confidence, or
a handoff. It groups questions that ask the same thing, with counts, dates and an
operator's reply where one answered. `reply_draft` turns that reply into a Q&A pair for
an admin to edit and save. Saved pairs become knowledge checks (knowledge/checks.py),
so the loop stays closed.

Grouping: e5 scores any two support questions above 0.8 ("How do I change my password?"
and "How do I get a refund?" get 0.89), so raw cosine cannot tell a paraphrase from a
neighbour. Vectors are first centred on the mean of a fixed set of generic support
questions (REFERENCE), which removes the "this is a support question" direction they
all share. On hand-written checks, paraphrases and translations then score 0.4-0.65 and
different questions ≤ 0.3. A question joins the group whose centroid is nearest, if it is
at least GROUP_SIMILARITY; otherwise it starts a group. Questions that are really small
talk or a request for a person (conversations.intent, rules only) are not gaps: with a
handoff, the question before the request is the one the assistant failed.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
from sqlalchemy import text

from backend_services.assistants import service as assistants
from backend_services.conversations import intent
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound
from backend_services.core.principal import Principal
from backend_services.knowledge.answers import LOW_CONFIDENCE
from backend_services.knowledge.embeddings import Embedder, get_default_embedder
from backend_services.knowledge.sources import QAView, save_qa
from backend_services.models import Role

GapReason = Literal["unknown", "low", "handoff"]
REPLY_NOT_FOUND = "That reply was not found."
# How far back, and how much, one listing reads: the newest dialogs of the period.
DEFAULT_DAYS = 30
MAX_DIALOGS = 2000
MAX_QUESTIONS = 300  # the newest gaps grouped (each costs one short embedding)
GROUP_SIMILARITY = 0.40  # centred cosine; see the module docstring
WORDINGS_SHOWN = 4

# Generic support questions in both languages. Only their mean is used: it is the common
# direction subtracted before grouping. Not a tuning set: they are deliberately about no
# tenant.
REFERENCE = (
    "How do I reset my password?", "What are your opening hours?", "Where is my order?",
    "Can I pay by card?", "How do I cancel my subscription?", "Do you deliver on weekends?",
    "How can I contact support?", "Is my data stored securely?",
    "How do I add a team member?", "What happens when my trial ends?",
    "Can I change the delivery address?", "Why was my payment declined?",
    "How do I export my data?", "Which browsers are supported?",
    "How do I delete my account?",
    "Как восстановить пароль?", "Какие у вас часы работы?", "Где мой заказ?",
    "Можно оплатить картой?", "Как отменить подписку?", "Вы доставляете по выходным?",
    "Как связаться с поддержкой?", "Мои данные хранятся безопасно?",
    "Как добавить сотрудника?", "Что будет после пробного периода?",
    "Можно изменить адрес доставки?", "Почему не прошёл платёж?", "Как выгрузить данные?",
    "Какие браузеры поддерживаются?", "Как удалить аккаунт?",
)
_centres: dict[str, np.ndarray] = {}


@dataclass(frozen=True)
class Gap:
    """Visitors' questions that ask the same thing and were not answered well."""

    question: str  # the newest wording
    wordings: tuple[str, ...]  # a few other wordings, newest first
    count: int
    first_at: datetime
    last_at: datetime
    reasons: tuple[GapReason, ...]
    dialog_id: int  # the newest conversation that asked it
    reply_message_id: int  # an operator's answer to one of them (0: nobody answered)
    reply: str


@dataclass(frozen=True)
class ReplyDraft:
    """A Q&A pair made from an operator's reply, for an admin to edit before saving."""

    assistant_id: int
    dialog_id: int
    question: str  # the visitor's question the reply answered
    answer: str


@dataclass
class _Asked:
    id: int
    dialog_id: int
    content: str
    at: datetime
    reasons: set[GapReason] = field(default_factory=set)
    reply_id: int = 0
    reply: str = ""


_MESSAGES_SQL = text(
    """
    WITH recent AS (
      SELECT id FROM dialogs
      WHERE workspace_id = :ws AND assistant_id = :a AND updated_at >= :since
      ORDER BY updated_at DESC LIMIT :n
    )
    SELECT m.id, m.dialog_id, m.sender, m.content, m.created_at, m.answer_mode, m.confidence
    FROM messages m JOIN recent r ON r.id = m.dialog_id
    WHERE m.workspace_id = :ws AND m.created_at >= :since AND m.created_at < :until
      AND m.sender IN ('visitor', 'ai', 'operator')
    ORDER BY m.dialog_id, m.id
    """
)
_HANDOFFS_SQL = text(
    """
    SELECT h.dialog_id, h.created_at FROM handoff_events h
    JOIN dialogs d ON d.id = h.dialog_id
    WHERE h.workspace_id = :ws AND d.workspace_id = :ws AND d.assistant_id = :a
      AND h.to_state = 'requested' AND h.created_at >= :since AND h.created_at < :until
    ORDER BY h.dialog_id, h.created_at
    """
)


def _weak(row: Any) -> GapReason | None:
    """Why an AI message answered its question badly, if it did."""
    mode, confidence = row.answer_mode, row.confidence
    if mode == "unknown":
        return "unknown"
    if mode in ("extractive", "llm") and confidence is not None and confidence < LOW_CONFIDENCE:
        return "low"
    return None


def _asked_in(rows: list[Any], handoffs: list[datetime]) -> list[_Asked]:
    """One dialog's gaps: each question, why it failed, and the operator's reply to it."""
    asked: list[_Asked] = []
    last: _Asked | None = None
    pending = sorted(handoffs)
    for row in rows:
        while pending and pending[0] <= row.created_at:
            pending.pop(0)
            if last is not None:
                last.reasons.add("handoff")
        if row.sender == "visitor":
            if intent.detect(row.content).kind == "question":
                last = _Asked(row.id, row.dialog_id, row.content, row.created_at)
                asked.append(last)
        elif row.sender == "ai":
            reason = _weak(row)
            if reason is not None and last is not None:
                last.reasons.add(reason)
        elif row.sender == "operator":
            for a in asked:
                if a.reasons and not a.reply_id:
                    a.reply_id, a.reply = row.id, row.content
    if pending and last is not None:
        last.reasons.add("handoff")
    return [a for a in asked if a.reasons]


async def _centre(embedder: Embedder) -> np.ndarray:
    if embedder.name not in _centres:
        vectors = np.asarray(await embedder.embed_queries(list(REFERENCE)), dtype=np.float32)
        _centres[embedder.name] = vectors.mean(axis=0)
    return _centres[embedder.name]


async def group_similar(texts: list[str], embedder: Embedder | None = None) -> list[list[int]]:
    """Indices of `texts` (newest first) grouped by what they ask."""
    if not texts:
        return []
    embedder = embedder or get_default_embedder()
    vectors = await embedder.embed_queries([t[:500] for t in texts])
    return await group_vectors(np.asarray(vectors, dtype=np.float32), embedder)


async def group_vectors(vectors: np.ndarray, embedder: Embedder) -> list[list[int]]:
    """Rows of `vectors` (query embeddings by `embedder`, newest first) grouped: each
    joins the group whose centroid is nearest, if near enough (the module docstring says
    why the vectors are centred first)."""
    if not len(vectors):
        return []
    vectors = vectors - await _centre(embedder)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    groups: list[list[int]] = []
    sums = np.zeros_like(vectors)  # row g: the sum of group g's vectors
    centroids = np.zeros_like(vectors)  # row g: that sum, normalised
    for i, v in enumerate(vectors):
        n = len(groups)
        best = -1
        if n:
            sims = centroids[:n] @ v
            g = int(np.argmax(sims))
            if sims[g] >= GROUP_SIMILARITY:
                best = g
        if best < 0:
            best = n
            groups.append([])
        groups[best].append(i)
        sums[best] += v
        centroids[best] = sums[best] / max(float(np.linalg.norm(sums[best])), 1e-9)
    return groups


def _gap(group: list[_Asked]) -> Gap:
    newest = group[0]
    seen = {newest.content.strip().lower()}
    wordings: list[str] = []
    for a in group[1:]:
        key = a.content.strip().lower()
        if key not in seen and len(wordings) < WORDINGS_SHOWN:
            seen.add(key)
            wordings.append(a.content)
    answered = next((a for a in group if a.reply_id), None)
    order: tuple[GapReason, ...] = ("unknown", "low", "handoff")
    return Gap(
        question=newest.content, wordings=tuple(wordings), count=len(group),
        first_at=min(a.at for a in group), last_at=newest.at,
        reasons=tuple(r for r in order if any(r in a.reasons for a in group)),
        dialog_id=newest.dialog_id,
        reply_message_id=answered.reply_id if answered else 0,
        reply=answered.reply if answered else "",
    )


async def gaps(
    principal: Principal, assistant_id: int, *, days: int = DEFAULT_DAYS,
    between: tuple[datetime, datetime] | None = None, embedder: Embedder | None = None,
) -> list[Gap]:
    """The assistant's unanswered questions of the last `days` (or asked `between` two
    moments, for a report's period), grouped, most asked first."""
    principal.require(Role.ADMIN)
    since, until = between or (datetime.now(UTC) - timedelta(days=max(1, days)),
                               datetime.now(UTC) + timedelta(minutes=1))
    params = {"ws": principal.workspace_id, "a": assistant_id, "since": since,
              "until": until}
    async with session_scope() as session:
        await assistants.in_scope(session, principal, assistant_id)
        rows = list(await session.exec(  # type: ignore[call-overload]
            _MESSAGES_SQL, params={**params, "n": MAX_DIALOGS}))
        handoffs = list(await session.exec(_HANDOFFS_SQL, params=params))  # type: ignore[call-overload]
    by_dialog: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        by_dialog[row.dialog_id].append(row)
    handed: dict[int, list[datetime]] = defaultdict(list)
    for dialog_id, at in handoffs:
        handed[dialog_id].append(at)
    asked = [a for dialog_id, dialog_rows in by_dialog.items()
             for a in _asked_in(dialog_rows, handed.get(dialog_id, []))]
    asked.sort(key=lambda a: a.at, reverse=True)
    asked = asked[:MAX_QUESTIONS]
    groups = await group_similar([a.content for a in asked], embedder)
    found = [_gap([asked[i] for i in g]) for g in groups]
    found.sort(key=lambda g: (g.count, g.last_at), reverse=True)
    return found


_REPLY_SQL = text(
    """
    SELECT r.dialog_id, r.content, d.assistant_id
    FROM messages r JOIN dialogs d ON d.id = r.dialog_id
    WHERE r.id = :id AND r.workspace_id = :ws AND d.workspace_id = :ws
      AND r.sender = 'operator'
    """
)
_BEFORE_SQL = text(
    """
    SELECT content FROM messages
    WHERE dialog_id = :d AND workspace_id = :ws AND sender = 'visitor' AND id < :id
    ORDER BY id DESC LIMIT 20
    """
)


async def reply_draft(principal: Principal, message_id: int) -> ReplyDraft:
    """The operator's reply `message_id` and the visitor's question it answered (the
    newest earlier visitor message that reads as a question, not a greeting or a request
    for a person). Another workspace's message is not found."""
    principal.require(Role.ADMIN)
    params = {"id": int(message_id), "ws": principal.workspace_id}
    async with session_scope() as session:
        reply = (await session.exec(_REPLY_SQL, params=params)).first()  # type: ignore[call-overload]
        if reply is None:
            raise NotFound(REPLY_NOT_FOUND)
        earlier = [r.content for r in await session.exec(  # type: ignore[call-overload]
            _BEFORE_SQL, params={**params, "d": reply.dialog_id})]
    question = next((t for t in earlier if intent.detect(t).kind == "question"),
                    earlier[0] if earlier else "")
    return ReplyDraft(assistant_id=reply.assistant_id, dialog_id=reply.dialog_id,
                      question=question.strip()[:1000], answer=reply.content.strip()[:8000])


async def save_reply(principal: Principal, message_id: int, question: str,
                     answer: str) -> QAView:
    """Save an operator's reply, as edited, as a Q&A pair of the dialog's assistant. Its
    knowledge check asks the visitor's own words. The assistant comes from the message,
    never from the client."""
    draft = await reply_draft(principal, message_id)
    return await save_qa(principal, draft.assistant_id, None, question, answer,
                         asked=draft.question)
