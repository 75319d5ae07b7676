"""Keeps the analytics roll-ups current: the jobs process calls `refresh` every minute.

Why roll-ups: on this 2-core machine the raw queries over a workspace with a million
messages took 1.7 s for 30 days and 4.8 s for 180 (bench/analytics_load.py, before this
module); the page must open in under a second. Reading the roll-ups instead costs a scan
of one row per conversation and one per active hour.

How: each run re-reads everything that changed since its mark, minus MARGIN, so a
transaction that committed late (its rows carry the time it started) is still seen. For
messages and AI charges it recomputes the whole UTC hours from that point (append-only
rows: recomputing is exact, and a second run gives the same rows). For conversations it
recomputes the facts of every dialog updated since then (a message, a handoff, a close and
a rating all touch `dialogs.updated_at`). Two jobs processes may run it: a transaction-level
advisory lock lets one through and the other skips the round.

Opening questions are read and embedded by `read_questions`, a batch per call, outside
that transaction (embedding is the slow part), newest conversations first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy import text

from backend_services.conversations import intent
from backend_services.core.db import session_scope
from backend_services.knowledge.answers import LOW_CONFIDENCE
from backend_services.knowledge.embeddings import Embedder, get_default_embedder

log = logging.getLogger("replyx.analytics")

MARK = "rollup"
MARGIN = timedelta(minutes=10)
QUESTION_BATCH = 256
OPENINGS_SCANNED = 3  # visitor messages looked at for a conversation's question
QUESTION_SETTLES = timedelta(days=1)  # after this a conversation without one has none

_TRY_LOCK_SQL = text("SELECT pg_try_advisory_xact_lock(hashtext('replyx.analytics.rollup'))")
_LOCK_SQL = text("SELECT true FROM pg_advisory_xact_lock(hashtext('replyx.analytics.rollup'))")
_MARK_SQL = text("SELECT read_until FROM analytics_marks WHERE name = :name")
_SET_MARK_SQL = text("""
INSERT INTO analytics_marks (name, read_until) VALUES (:name, :at)
ON CONFLICT (name) DO UPDATE SET read_until = excluded.read_until
""")

_DELETE_HOURS_SQL = text("DELETE FROM analytics_hours WHERE hour >= :from_hour")
# Hours are UTC (date_trunc's third argument): reports read them in any whole-hour zone.
_HOURS_SQL = text("""
INSERT INTO analytics_hours (workspace_id, assistant_id, channel, hour, visitor, ai,
                             operator, weak_answers, answers_charged, ai_cost_minor)
SELECT workspace_id, assistant_id, channel, hour, sum(visitor), sum(ai), sum(operator),
       sum(weak), sum(charged), sum(cost)
FROM (
  SELECT m.workspace_id, d.assistant_id, c.kind AS channel,
         date_trunc('hour', m.created_at, 'UTC') AS hour,
         count(*) FILTER (WHERE m.sender = 'visitor') AS visitor,
         count(*) FILTER (WHERE m.sender = 'ai') AS ai,
         count(*) FILTER (WHERE m.sender = 'operator') AS operator,
         count(*) FILTER (WHERE m.sender = 'ai' AND (m.answer_mode = 'unknown' OR (
           m.answer_mode IN ('extractive', 'llm') AND m.confidence < :low))) AS weak,
         0 AS charged, 0 AS cost
  FROM messages m
  JOIN dialogs d ON d.id = m.dialog_id AND d.workspace_id = m.workspace_id
  JOIN contacts c ON c.id = d.contact_id AND c.workspace_id = m.workspace_id
  WHERE m.created_at >= :from_hour AND m.sender IN ('visitor', 'ai', 'operator')
  GROUP BY 1, 2, 3, 4
  UNION ALL
  SELECT e.workspace_id, coalesce(d.assistant_id, 0), coalesce(c.kind, ''),
         date_trunc('hour', e.created_at, 'UTC'), 0, 0, 0, 0, count(*),
         -sum(e.amount_minor)
  FROM ledger_entries e
  LEFT JOIN dialogs d ON d.id = e.dialog_id AND d.workspace_id = e.workspace_id
  LEFT JOIN contacts c ON c.id = d.contact_id AND c.workspace_id = e.workspace_id
  WHERE e.created_at >= :from_hour AND e.kind = 'answer'
  GROUP BY 1, 2, 3, 4
) x
GROUP BY 1, 2, 3, 4
""")

# A conversation's facts; see docs/analytics.md for each definition.
_DIALOGS_SQL = text("""
INSERT INTO analytics_dialogs (dialog_id, workspace_id, assistant_id, channel, created_at,
  handed, ai_first_seconds, human_first_seconds, resolution_seconds, rating,
  rated_handler, question_read, question, question_embedder)
SELECT d.id, d.workspace_id, d.assistant_id, c.kind, d.created_at,
       EXISTS (SELECT 1 FROM handoff_events h
               WHERE h.dialog_id = d.id AND h.to_state IN ('requested', 'active')),
       (SELECT extract(epoch FROM min(a.created_at) - fv.at) FROM messages a
        WHERE a.dialog_id = d.id AND a.sender = 'ai' AND a.created_at >= fv.at),
       d.first_reply_seconds,
       extract(epoch FROM d.closed_at - d.created_at),
       d.rating, CASE WHEN d.rating IS NULL THEN '' ELSE d.rated_handler END,
       false, '', ''
FROM dialogs d
JOIN contacts c ON c.id = d.contact_id AND c.workspace_id = d.workspace_id
LEFT JOIN LATERAL (SELECT min(v.created_at) AS at FROM messages v
                   WHERE v.dialog_id = d.id AND v.sender = 'visitor') fv ON true
WHERE d.updated_at >= :since
ON CONFLICT (dialog_id) DO UPDATE SET
  handed = excluded.handed, ai_first_seconds = excluded.ai_first_seconds,
  human_first_seconds = excluded.human_first_seconds,
  resolution_seconds = excluded.resolution_seconds, rating = excluded.rating,
  rated_handler = excluded.rated_handler
""")

_UNREAD_SQL = text("""
SELECT f.dialog_id, f.created_at < :settled OR d.status = 'closed' AS settled,
       array(SELECT m.content FROM messages m
             WHERE m.dialog_id = f.dialog_id AND m.sender = 'visitor'
             ORDER BY m.id LIMIT :k) AS openings
FROM analytics_dialogs f JOIN dialogs d ON d.id = f.dialog_id
WHERE NOT f.question_read OR (f.question <> '' AND f.question_embedder <> :e)
ORDER BY f.created_at DESC LIMIT :n
""")
_SET_QUESTION_SQL = text("""
UPDATE analytics_dialogs SET question_read = true, question = :q, question_vector = :v,
  question_embedder = :e
WHERE dialog_id = :id
""")


@dataclass(frozen=True)
class Refreshed:
    ran: bool  # False: another process held the lock this round
    hours_from: datetime | None = None
    dialogs: int = 0


async def refresh(*, from_scratch: bool = False) -> Refreshed:
    """Bring the roll-ups up to now; the opening questions follow with `read_questions`.

    The first run reads everything, and so does `from_scratch` (after a restore, or to
    rebuild what a bug got wrong), which waits for a round in progress instead of skipping.
    """
    async with session_scope() as session:
        lock = _LOCK_SQL if from_scratch else _TRY_LOCK_SQL
        if not (await session.exec(lock)).one()[0]:  # type: ignore[call-overload]
            return Refreshed(ran=False)
        started = (await session.exec(text("SELECT now()"))).one()[0]  # type: ignore[call-overload]
        mark = None if from_scratch else (await session.exec(  # type: ignore[call-overload]
            _MARK_SQL, params={"name": MARK})).first()
        since: datetime = (mark[0] - MARGIN) if mark else datetime.min.replace(
            tzinfo=started.tzinfo)
        from_hour = since.replace(minute=0, second=0, microsecond=0)
        await session.exec(_DELETE_HOURS_SQL, params={"from_hour": from_hour})  # type: ignore[call-overload]
        await session.exec(_HOURS_SQL, params={"from_hour": from_hour,  # type: ignore[call-overload]
                                               "low": LOW_CONFIDENCE})
        dialogs = (await session.exec(_DIALOGS_SQL, params={"since": since})).rowcount  # type: ignore[call-overload]
        await session.exec(_SET_MARK_SQL, params={"name": MARK, "at": started})  # type: ignore[call-overload]
    return Refreshed(True, from_hour, int(dialogs or 0))


def _opening_question(openings: list[str]) -> str | None:
    for content in openings[:OPENINGS_SCANNED]:
        if intent.detect(content).kind == "question":
            return content[:500]
    return None


async def read_questions(embedder: Embedder | None = None) -> int:
    """Find and embed the opening questions of conversations not read yet, or embedded
    by another embedder than today's (a batch)."""
    embedder = embedder or get_default_embedder()
    async with session_scope() as session:
        now = (await session.exec(text("SELECT now()"))).one()[0]  # type: ignore[call-overload]
        rows = list(await session.exec(_UNREAD_SQL, params={  # type: ignore[call-overload]
            "settled": now - QUESTION_SETTLES, "k": OPENINGS_SCANNED, "n": QUESTION_BATCH,
            "e": embedder.name}))
    found: list[tuple[int, str]] = []
    done: list[int] = []  # no question, and none is coming
    for dialog_id, settled, openings in rows:
        question = _opening_question(list(openings or []))
        if question is not None:
            found.append((int(dialog_id), question))
        elif settled or len(openings or []) >= OPENINGS_SCANNED:
            done.append(int(dialog_id))
    vectors: list[bytes] = []
    name = embedder.name
    if found:
        embedded = await embedder.embed_queries([q for _, q in found])
        vectors = [np.asarray(v, dtype=np.float32).tobytes() for v in embedded]
    async with session_scope() as session:
        for (dialog_id, question), vector in zip(found, vectors, strict=True):
            await session.exec(_SET_QUESTION_SQL, params={  # type: ignore[call-overload]
                "id": dialog_id, "q": question, "v": vector, "e": name})
        for dialog_id in done:
            await session.exec(_SET_QUESTION_SQL, params={  # type: ignore[call-overload]
                "id": dialog_id, "q": "", "v": None, "e": ""})
    return len(found)
