"""How the whole installation does, for platform admins: sign-ups, active workspaces,
messages, AI tokens and cost by model and provider, revenue, the busiest workspaces and
the ones gone quiet. Days are UTC (an installation has no single business time zone).

Messages and activity come from the analytics roll-ups (analytics_hours), AI use from the
per-call usage rows (ai_usage), revenue from paid payments. Definitions: docs/analytics.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.analytics.period import Filters
from backend_services.core.dates import each_day
from backend_services.core.db import session_scope, sql_rows
from backend_services.core.principal import Principal

TOP = 10
QUIET_DAYS = 30
QUIET_LISTED = 50

_SIGNUPS_SQL = text("""
SELECT date(timezone('UTC', created_at)), count(*) FROM users
WHERE created_at >= :start AND created_at < :end GROUP BY 1
""")
_WORKSPACES_SQL = text("""
SELECT date(timezone('UTC', created_at)), count(*) FROM workspaces
WHERE created_at >= :start AND created_at < :end GROUP BY 1
""")
_ACTIVITY_SQL = text("""
SELECT date(timezone('UTC', hour)), count(DISTINCT workspace_id),
       sum(visitor + ai + operator)
FROM analytics_hours
WHERE hour >= :start AND hour < :end AND visitor + ai + operator > 0 GROUP BY 1
""")
_WEEKLY_ACTIVE_SQL = text("""
SELECT count(DISTINCT workspace_id) FROM analytics_hours
WHERE hour >= :start AND hour < :end AND visitor + ai + operator > 0
""")
_MODELS_SQL = text("""
SELECT u.model, k.name, k.base_url, count(*), coalesce(sum(u.tokens_in), 0),
       coalesce(sum(u.tokens_out), 0), coalesce(sum(u.cost_micro), 0), min(u.currency)
FROM ai_usage u LEFT JOIN ai_provider_keys k ON k.id = u.key_id
WHERE u.created_at >= :start AND u.created_at < :end
GROUP BY 1, 2, 3 ORDER BY 5 + 6 DESC, 1
""")
_REVENUE_SQL = text("""
SELECT date(timezone('UTC', paid_at)), currency, count(*), sum(amount_minor - refunded_minor)
FROM payments
WHERE status IN ('paid', 'refunded') AND paid_at >= :start AND paid_at < :end
GROUP BY 1, 2
""")
_TOP_SQL = text("""
SELECT h.workspace_id, w.name, sum(h.visitor + h.ai + h.operator) AS messages,
       sum(h.answers_charged), sum(h.ai_cost_minor), w.currency
FROM analytics_hours h JOIN workspaces w ON w.id = h.workspace_id
WHERE h.hour >= :start AND h.hour < :end
GROUP BY 1, 2, 6 ORDER BY messages DESC, 1 LIMIT :n
""")
_QUIET_SQL = text("""
SELECT h.workspace_id, w.name, max(h.hour) AS last_active
FROM analytics_hours h JOIN workspaces w ON w.id = h.workspace_id
WHERE h.visitor + h.ai + h.operator > 0
GROUP BY 1, 2 HAVING max(h.hour) < :quiet
ORDER BY last_active DESC LIMIT :n
""")


@dataclass(frozen=True)
class PlatformDay:
    day: str
    signups: int  # accounts created
    workspaces: int  # workspaces created
    active: int  # workspaces with at least one message that day
    messages: int


@dataclass(frozen=True)
class ModelUse:
    model: str
    provider: str  # the key's name and host; "" when the key was deleted
    calls: int
    tokens_in: int
    tokens_out: int
    cost_micro: int  # millionths of a minor unit
    currency: str


@dataclass(frozen=True)
class Revenue:
    currency: str
    payments: int
    amount_minor: int  # paid, less what was refunded


@dataclass(frozen=True)
class WorkspaceUse:
    workspace_id: int
    name: str
    messages: int
    answers_charged: int
    ai_cost_minor: int
    currency: str


@dataclass(frozen=True)
class QuietWorkspace:
    workspace_id: int
    name: str
    last_active: datetime


@dataclass(frozen=True)
class PlatformReport:
    since: date
    until: date
    days: list[PlatformDay]
    active: int  # workspaces with at least one message in the period
    weekly_active: list[tuple[str, int]]  # (ISO week start, workspaces active in it)
    models: list[ModelUse]
    revenue: list[Revenue]
    revenue_days: list[tuple[str, dict[str, int]]]  # (day, currency -> minor units)
    top: list[WorkspaceUse]
    quiet: list[QuietWorkspace]


async def _rows(session: AsyncSession, sql: Any, **params: Any) -> list[Any]:
    return await sql_rows(session, sql, params)


def _provider(name: str | None, base_url: str | None) -> str:
    if not name:
        return ""
    host = urlsplit(base_url or "").hostname or ""
    return f"{name} ({host})" if host else name


async def platform_report(principal: Principal, since: date, until: date,
                          now: datetime | None = None) -> PlatformReport:
    principal.require_platform_admin()
    f = Filters(since, until).clean()
    p = {"start": f.start, "end": f.end}
    now = now or datetime.now(UTC)
    async with session_scope() as session:
        signups = dict(await _rows(session, _SIGNUPS_SQL, **p))
        created = dict(await _rows(session, _WORKSPACES_SQL, **p))
        activity = {r[0]: r for r in await _rows(session, _ACTIVITY_SQL, **p)}
        active = int((await _rows(session, _WEEKLY_ACTIVE_SQL, **p))[0][0])
        weeks: list[tuple[str, int]] = []
        week = f.since - timedelta(days=f.since.weekday())
        while week <= f.until:
            start = Filters(week, week + timedelta(days=6))
            n = (await _rows(session, _WEEKLY_ACTIVE_SQL, start=start.start,
                             end=start.end))[0][0]
            weeks.append((week.isoformat(), int(n)))
            week += timedelta(days=7)
        models = [ModelUse(str(m), _provider(name, url), int(calls), int(t_in), int(t_out),
                           int(cost), str(cur or ""))
                  for m, name, url, calls, t_in, t_out, cost, cur
                  in await _rows(session, _MODELS_SQL, **p)]
        paid = await _rows(session, _REVENUE_SQL, **p)
        top = [WorkspaceUse(int(w), str(n), int(m), int(a), int(c), str(cur))
               for w, n, m, a, c, cur in await _rows(session, _TOP_SQL, **p, n=TOP)]
        quiet = [QuietWorkspace(int(w), str(n), last)
                 for w, n, last in await _rows(session, _QUIET_SQL, n=QUIET_LISTED,
                                               quiet=now - timedelta(days=QUIET_DAYS))]
    totals: dict[str, list[int]] = {}
    per_day: dict[date, dict[str, int]] = {}
    for day, currency, n, amount in paid:
        t = totals.setdefault(str(currency), [0, 0])
        t[0] += int(n)
        t[1] += int(amount)
        per_day.setdefault(day, {})[str(currency)] = int(amount)
    days = [PlatformDay(d.isoformat(), int(signups.get(d, 0)), int(created.get(d, 0)),
                        int(activity[d][1]) if d in activity else 0,
                        int(activity[d][2]) if d in activity else 0)
            for d in each_day(f.since, f.until)]
    return PlatformReport(
        since=f.since, until=f.until, days=days, active=active, weekly_active=weeks, models=models,
        revenue=[Revenue(c, n, a) for c, (n, a) in sorted(totals.items())],
        revenue_days=[(d.isoformat(), per_day.get(d, {})) for d in each_day(f.since, f.until)],
        top=top, quiet=quiet)
