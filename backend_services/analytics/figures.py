"""The figures of one period: what happened in a workspace's conversations, how fast the
AI and people answered, how visitors rated them, when they wrote, and what the AI cost.

Every figure has one definition, written next to its query and in docs/analytics.md. The
short version: a conversation belongs to the period it was started in (its handling, its
rating, its first responses and its resolution go with it); a message belongs to the day
and hour it was written; money belongs to the moment it was charged. Days and hours are
read in the filter's time zone.

They read the roll-ups (analytics.rollup keeps them, a minute behind at most): one row
per conversation and one per active hour, scoped to the principal's workspace first, then
narrowed by assistant and channel. A period costs a scan of its own rows on the
(workspace, time) indexes; bench/analytics_load.py measures it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.analytics.period import Filters
from backend_services.core.dates import each_day

TOP_REASONS = 10

# The conversations of the period (started in it), from their facts (analytics.rollup).
_PERIOD = """
WITH d AS (
  SELECT * FROM analytics_dialogs
  WHERE workspace_id = :ws AND created_at >= :start AND created_at < :end
    AND (CAST(:a AS integer) IS NULL OR assistant_id = :a)
    AND (:ch = '' OR channel = :ch)
)
"""

_DIALOGS_SQL = text(_PERIOD + """
SELECT count(*) AS conversations,
       count(*) FILTER (WHERE handed) AS handed,
       count(ai_first_seconds),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY ai_first_seconds),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY ai_first_seconds),
       count(human_first_seconds),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY human_first_seconds),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY human_first_seconds),
       count(resolution_seconds),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY resolution_seconds),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY resolution_seconds)
FROM d
""")

_DIALOG_DAYS_SQL = text(_PERIOD + """
SELECT date(timezone(:tz, created_at)) AS day, count(*) AS n,
       count(*) FILTER (WHERE handed) AS handed
FROM d GROUP BY 1
""")

_RATINGS_SQL = text(_PERIOD + """
SELECT rated_handler, rating, count(*) FROM d
WHERE rating IS NOT NULL GROUP BY 1, 2
""")

# Why conversations went to a person: the reason given when each was asked for one; a
# conversation asked twice for the same reason counts once.
_REASONS_SQL = text(_PERIOD + """
SELECT h.reason, count(DISTINCT h.dialog_id) AS n
FROM handoff_events h JOIN d ON d.dialog_id = h.dialog_id
WHERE h.workspace_id = :ws AND h.to_state = 'requested'
GROUP BY h.reason ORDER BY n DESC, h.reason LIMIT :top
""")

# Messages, unanswered AI answers and charges of the period, per UTC hour
# (analytics.rollup), read in the report's time zone.
_HOURS = """
WITH h AS (
  SELECT timezone(:tz, hour) AS local, visitor, ai, operator, weak_answers,
         answers_charged, ai_cost_minor
  FROM analytics_hours
  WHERE workspace_id = :ws AND hour >= :start AND hour < :end
    AND (CAST(:a AS integer) IS NULL OR assistant_id = :a)
    AND (:ch = '' OR channel = :ch)
)
"""

_MESSAGE_DAYS_SQL = text(_HOURS + """
SELECT date(local), sum(visitor + ai + operator), sum(visitor), sum(ai), sum(operator)
FROM h GROUP BY 1
""")

# When visitors write: their messages by ISO weekday (1 Monday … 7 Sunday) and hour.
_WEEK_SQL = text(_HOURS + """
SELECT extract(isodow FROM local)::int, extract(hour FROM local)::int, sum(visitor)
FROM h GROUP BY 1, 2
""")

_TOTALS_SQL = text(_HOURS + """
SELECT coalesce(sum(answers_charged), 0), coalesce(sum(ai_cost_minor), 0),
       coalesce(sum(weak_answers), 0), coalesce(sum(ai), 0)
FROM h
""")


@dataclass(frozen=True)
class Timing:
    """Seconds; None when nothing in the period was measured."""

    count: int
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Satisfaction:
    count: int
    average: float | None
    distribution: tuple[int, int, int, int, int]  # how many 1, 2, 3, 4, 5 stars


@dataclass(frozen=True)
class Day:
    day: str  # ISO date
    conversations: int
    handed_over: int
    messages: int
    visitor_messages: int
    ai_messages: int
    operator_messages: int


@dataclass(frozen=True)
class Figures:
    conversations: int
    ai_only: int  # never asked to, or taken by, a person
    handed_over: int
    reasons: list[tuple[str, int]]  # why conversations went to a person, most common first
    ai_first_response: Timing
    human_first_response: Timing  # from the request for a person to a person's first reply
    resolution: Timing  # from the start to the close, of the conversations closed
    rated_ai: Satisfaction
    rated_human: Satisfaction
    messages: int
    days: list[Day]
    hours: list[list[int]]  # [weekday 0 = Monday][hour 0-23]: visitors' messages
    answers_charged: int
    ai_cost_minor: int  # in the workspace's currency
    weak_answers: int  # AI answers that said "I don't know" or were unsure
    ai_answers: int

    @property
    def ai_only_share(self) -> float | None:
        return self.ai_only / self.conversations if self.conversations else None


def _params(workspace_id: int, f: Filters) -> dict[str, Any]:
    return {"ws": workspace_id, "start": f.start, "end": f.end, "a": f.assistant_id,
            "ch": f.channel, "tz": f.tz}


def _timing(count: Any, median: Any, p90: Any) -> Timing:
    return Timing(int(count or 0), None if median is None else round(float(median), 1),
                  None if p90 is None else round(float(p90), 1))


def _satisfaction(rows: dict[int, int]) -> Satisfaction:
    count = sum(rows.values())
    total = sum(stars * n for stars, n in rows.items())
    return Satisfaction(count, round(total / count, 2) if count else None,
                        (rows.get(1, 0), rows.get(2, 0), rows.get(3, 0), rows.get(4, 0),
                         rows.get(5, 0)))


async def _all(session: AsyncSession, sql: Any, params: dict[str, Any]) -> list[Any]:
    return list(await session.exec(sql, params=params))  # type: ignore[call-overload]


async def compute(session: AsyncSession, workspace_id: int, f: Filters) -> Figures:
    """The figures of one period; the caller has checked who may read them."""
    p = _params(workspace_id, f)
    row = (await _all(session, _DIALOGS_SQL, p))[0]
    total, handed = int(row[0]), int(row[1])
    dialog_days = {r[0]: r for r in await _all(session, _DIALOG_DAYS_SQL, p)}
    message_days = {r[0]: r for r in await _all(session, _MESSAGE_DAYS_SQL, p)}
    reasons = await _all(session, _REASONS_SQL, {**p, "top": TOP_REASONS})
    by_handler: dict[str, dict[int, int]] = {"ai": {}, "human": {}}
    for handler, stars, n in await _all(session, _RATINGS_SQL, p):
        if handler in by_handler:
            by_handler[handler][int(stars)] = int(n)
    hours = [[0] * 24 for _ in range(7)]
    for weekday, hour, n in await _all(session, _WEEK_SQL, p):
        hours[int(weekday) - 1][int(hour)] += int(n)
    charged, cost, weak, ai_messages = (await _all(session, _TOTALS_SQL, p))[0]
    days = [_day(d, dialog_days.get(d), message_days.get(d)) for d in each_day(f.since, f.until)]
    return Figures(
        conversations=total, ai_only=total - handed, handed_over=handed,
        reasons=[(str(r), int(n)) for r, n in reasons],
        ai_first_response=_timing(*row[2:5]), human_first_response=_timing(*row[5:8]),
        resolution=_timing(*row[8:11]),
        rated_ai=_satisfaction(by_handler["ai"]), rated_human=_satisfaction(by_handler["human"]),
        messages=sum(d.messages for d in days), days=days, hours=hours,
        answers_charged=int(charged), ai_cost_minor=int(cost), weak_answers=int(weak),
        ai_answers=int(ai_messages),
    )


def _day(day: date, dialogs: Any, messages: Any) -> Day:
    return Day(day.isoformat(),
               int(dialogs[1]) if dialogs else 0, int(dialogs[2]) if dialogs else 0,
               *(tuple(int(v) for v in messages[1:5]) if messages else (0, 0, 0, 0)))
