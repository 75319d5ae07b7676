"""The weekly summary: once a week, for each workspace that had conversations, the last
complete week (Monday to Sunday, UTC) against the week before, to its owners and admins.

Asked for on the first run after Monday 06:00 UTC; the request's key is the ISO week, so
later runs, other jobs processes and restarts ask for nothing more. The figures are
written into the request in both languages (they describe a closed week: they do not
change when the mail is sent later).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import text

from backend_services.analytics.formatting import shown
from backend_services.analytics.period import Filters
from backend_services.analytics.report import metrics, report_in
from backend_services.core import notify
from backend_services.core.db import session_scope

SEND_AFTER = time(6, 0)
KEYS = ("conversations", "ai_only_share", "ai_first_response", "human_first_response",
        "csat_ai", "csat_human", "ai_cost")

_ACTIVE_SQL = text("""
SELECT DISTINCT workspace_id FROM analytics_dialogs
WHERE created_at >= :s AND created_at < :e
""")


async def request_weekly(now: datetime | None = None) -> int:
    """Ask for last week's summary of every workspace active in it; returns how many."""
    now = now or datetime.now(UTC)
    monday = (now - timedelta(days=now.weekday())).date()
    if now < datetime.combine(monday, SEND_AFTER, UTC):
        return 0
    since, until = monday - timedelta(days=7), monday - timedelta(days=1)
    year, week, _ = since.isocalendar()
    f = Filters(since, until)
    asked = 0
    async with session_scope() as session:
        active = [r[0] for r in await session.exec(_ACTIVE_SQL, params={  # type: ignore[call-overload]
            "s": f.start, "e": f.end})]
        for workspace_id in active:
            r = await report_in(session, workspace_id, f)
            figures = {lang: {m.key: {"value": shown(m, m.now, r.currency, lang),
                                      "before": shown(m, m.before, r.currency, lang)}
                              for m in metrics(r) if m.key in KEYS}
                       for lang in ("en", "ru")}
            await notify.request(session, workspace_id, "weekly", f"weekly:{year}-W{week:02d}",
                                 period=f"{since.isoformat()} – {until.isoformat()}",
                                 figures=figures)
            asked += 1
    return asked
