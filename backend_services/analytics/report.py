"""A workspace's analytics report: the period's figures beside the previous period's,
and each table of the page as CSV.

Owners and admins read it (operators see conversations, not the business's figures).
The CSV of a table is built from the same `Report` the page draws, so the two cannot
disagree.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from backend_services.analytics.figures import Figures, Satisfaction, Timing, compute
from backend_services.analytics.period import Filters
from backend_services.assistants import service as assistants
from backend_services.billing import ledger
from backend_services.billing.money import major
from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.core.principal import Principal
from backend_services.models import Role

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Report:
    filters: Filters
    current: Figures
    previous: Figures
    currency: str  # the workspace's, which its charges are in


async def report(principal: Principal, filters: Filters) -> Report:
    principal.require(Role.ADMIN)
    f = filters.clean()
    async with session_scope() as session:
        if f.assistant_id is not None:
            # Another workspace's assistant is "not found", not an empty report.
            await assistants.in_scope(session, principal, f.assistant_id)
        return await report_in(session, principal.workspace_id, f)


async def report_in(session: AsyncSession, workspace_id: int, f: Filters) -> Report:
    """The report of one workspace, for callers that checked who reads it (the page
    through `report`, the weekly summary mail for the workspace's own people)."""
    current = await compute(session, workspace_id, f)
    previous = await compute(session, workspace_id, f.previous())
    _, currency = await ledger.balance_of(session, workspace_id)
    return Report(f, current, previous, currency)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    now: float | None
    before: float | None
    unit: str  # "count", "share", "seconds", "stars", "money"


DIFFERENCE_UNITS = ("share", "stars")


def change(m: Metric) -> float | None:
    """This period against the previous one: the difference for a share (0.1 = ten
    percentage points) or a rating (stars), else the relative change (0.25 = 25 % more);
    None when the previous period had nothing to compare with."""
    if m.now is None or m.before is None:
        return None
    if m.unit in DIFFERENCE_UNITS:
        return m.now - m.before
    if m.before == 0:
        return None
    return (m.now - m.before) / m.before


def _t(t: Timing) -> float | None:
    return t.median


def _s(s: Satisfaction) -> float | None:
    return s.average


_METRICS: tuple[tuple[str, str, str, Callable[[Figures], float | None]], ...] = (
    ("conversations", "Conversations", "count", lambda f: f.conversations),
    ("messages", "Messages", "count", lambda f: f.messages),
    ("ai_only_share", "Resolved by the AI alone", "share", lambda f: f.ai_only_share),
    ("handed_over", "Handed to a person", "count", lambda f: f.handed_over),
    ("ai_first_response", "AI first response (median)", "seconds",
     lambda f: _t(f.ai_first_response)),
    ("human_first_response", "Human first response (median)", "seconds",
     lambda f: _t(f.human_first_response)),
    ("resolution", "Time to resolution (median)", "seconds", lambda f: _t(f.resolution)),
    ("csat_ai", "Rating of AI-only conversations", "stars", lambda f: _s(f.rated_ai)),
    ("csat_human", "Rating of conversations with a person", "stars",
     lambda f: _s(f.rated_human)),
    ("ai_cost", "AI cost", "money", lambda f: f.ai_cost_minor),
)


def metrics(r: Report) -> list[Metric]:
    return [Metric(key, label, get(r.current), get(r.previous), unit)
            for key, label, unit, get in _METRICS]


# ---------------------------------------------------------------------------- CSV tables


def _summary_rows(r: Report) -> Iterable[Sequence[Any]]:
    yield ("figure", "this period", "previous period", "change", "change is", "unit")
    for m in metrics(r):
        delta = change(m)
        yield (m.label, _cell(m.now, m.unit), _cell(m.before, m.unit),
               "" if delta is None else f"{delta:.4f}",
               "difference" if m.unit in DIFFERENCE_UNITS else "relative",
               r.currency if m.unit == "money" else m.unit)


def _cell(v: float | None, unit: str) -> str:
    if v is None:
        return ""
    if unit == "money":
        return major(int(v))
    return str(int(v)) if float(v).is_integer() else f"{v:.4f}".rstrip("0")


def _days_rows(r: Report) -> Iterable[Sequence[Any]]:
    yield ("day", "conversations", "handed to a person", "messages", "from visitors",
           "from the AI", "from operators")
    for d in r.current.days:
        yield (d.day, d.conversations, d.handed_over, d.messages, d.visitor_messages,
               d.ai_messages, d.operator_messages)


def _reasons_rows(r: Report) -> Iterable[Sequence[Any]]:
    yield ("reason", "conversations")
    yield from r.current.reasons


def _satisfaction_rows(r: Report) -> Iterable[Sequence[Any]]:
    yield ("handled by", "ratings", "average", "1 star", "2 stars", "3 stars", "4 stars",
           "5 stars")
    for label, s in (("AI alone", r.current.rated_ai), ("a person", r.current.rated_human)):
        yield (label, s.count, "" if s.average is None else s.average, *s.distribution)


def _timings_rows(r: Report) -> Iterable[Sequence[Any]]:
    yield ("measure", "conversations measured", "median seconds", "90th percentile seconds")
    for label, t in (("AI first response", r.current.ai_first_response),
                     ("Human first response", r.current.human_first_response),
                     ("Time to resolution", r.current.resolution)):
        yield (label, t.count, "" if t.median is None else t.median,
               "" if t.p90 is None else t.p90)


def _hours_rows(r: Report) -> Iterable[Sequence[Any]]:
    yield ("weekday", *[f"{h:02d}:00" for h in range(24)])
    for name, row in zip(WEEKDAYS, r.current.hours, strict=True):
        yield (name, *row)


TABLES: dict[str, Callable[[Report], Iterable[Sequence[Any]]]] = {
    "summary": _summary_rows,
    "days": _days_rows,
    "reasons": _reasons_rows,
    "satisfaction": _satisfaction_rows,
    "timings": _timings_rows,
    "hours": _hours_rows,
}


def csv_table(r: Report, table: str) -> str:
    if table not in TABLES:
        raise ValidationFailed("Unknown table.")
    out = io.StringIO()
    csv.writer(out).writerows(TABLES[table](r))
    return out.getvalue()
