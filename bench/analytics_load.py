"""How long the Analytics page's figures take for a workspace with a million messages.

Generates, in a private embedded PostgreSQL, one large workspace (DIALOGS conversations of
MESSAGES_PER_DIALOG messages over DAYS days: 1,000,000 messages, a fifth handed to a
person, a third closed, one in eight rated, an answer charge per AI message) and a small
neighbour, then times `analytics.report.report` (the period and the previous one, every
figure the page shows first) for the last 7, 30, 90 and 180 days, with and without an
assistant filter, and the questions section (groups the newest 1,000 stored question
embeddings). Before that it times the roll-up's first run over all of it (the backfill a
new installation or an upgrade does once) and a run with nothing new (every minute).

Prints JSON with the median and max of REPEAT runs per case.

    .venv/bin/python bench/analytics_load.py > bench/out/analytics_load.json
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _benchdb import bench_database, log, machine_info

DIALOGS = 100_000
MESSAGES_PER_DIALOG = 10
DAYS = 180
REPEAT = 5

_SEED = [
    """INSERT INTO contacts (workspace_id, kind, external_id, name, email, created_at)
       SELECT CAST(:ws AS integer),
              CASE WHEN g % 4 = 0 THEN 'telegram' ELSE 'widget' END, 'v' || g, '', '',
              now() - interval '1 day' * CAST(:days AS integer)
       FROM generate_series(1, CAST(:n AS integer)) g""",
    # Conversations spread evenly over the days, each at a pseudo-random hour.
    """INSERT INTO dialogs (workspace_id, assistant_id, contact_id, status, rating,
         created_at, updated_at, closed_at, handoff_requested_at, handoff_reason,
         accepted_at, first_human_reply_at, first_reply_seconds, awaiting_contact,
         rated_handler, failed_in_row, last_message_preview)
       SELECT CAST(:ws AS integer),
              CASE WHEN g % 3 = 0 THEN CAST(:a2 AS integer) ELSE CAST(:a1 AS integer) END,
              c.id,
              CASE WHEN g % 3 = 0 THEN 'closed' ELSE 'ai' END,
              CASE WHEN g % 8 = 0 THEN 1 + g % 5 END,
              t, t, CASE WHEN g % 3 = 0 THEN t + interval '1 second' * (120 + g % 900) END,
              CASE WHEN g % 5 = 0 THEN t + interval '30 seconds' END,
              CASE WHEN g % 5 = 0 THEN 'visitor asked for a human' ELSE '' END,
              CASE WHEN g % 5 = 0 THEN t + interval '60 seconds' END,
              CASE WHEN g % 5 = 0 THEN t + interval '90 seconds' END,
              CASE WHEN g % 5 = 0 THEN 60 + g % 240 END, false,
              CASE WHEN g % 8 = 0 THEN CASE WHEN g % 5 = 0 THEN 'human' ELSE 'ai' END
                   ELSE '' END, 0, ''
       FROM (SELECT g, now() - interval '1 second'
                              * ((g * 7919) % (CAST(:days AS integer) * 86400)) AS t
             FROM generate_series(1, CAST(:n AS integer)) g) s
       JOIN contacts c ON c.workspace_id = :ws AND c.external_id = 'v' || s.g""",
    """INSERT INTO messages (workspace_id, dialog_id, sender, content, tokens_in,
         tokens_out, cost_minor, cost_micro, cost_currency, model, latency_ms, answer_mode,
         created_at)
       SELECT d.workspace_id, d.id,
              CASE WHEN k % 2 = 1 THEN 'visitor'
                   WHEN d.first_reply_seconds IS NOT NULL AND k > 4 THEN 'operator'
                   ELSE 'ai' END,
              CASE WHEN k = 1 THEN 'How do I change my delivery address, order ' || d.id
                   ELSE 'message ' || k END,
              0, 0, 0, 0, '', '', 0, CASE WHEN k % 2 = 0 THEN 'llm' ELSE '' END,
              d.created_at + interval '20 seconds' * k + interval '1 second' * (d.id % 3)
       FROM dialogs d CROSS JOIN generate_series(1, CAST(:per AS integer)) k
       WHERE d.workspace_id = :ws""",
    """INSERT INTO handoff_events (workspace_id, dialog_id, from_state, to_state, reason,
         actor, created_at)
       SELECT workspace_id, id, 'ai', 'requested', handoff_reason, 'visitor',
              handoff_requested_at
       FROM dialogs WHERE workspace_id = :ws AND handoff_requested_at IS NOT NULL""",
    """INSERT INTO ledger_entries (workspace_id, amount_minor, currency, kind,
         idempotency_key, balance_after_minor, reference, created_at, dialog_id,
         message_id, requested_minor)
       SELECT m.workspace_id, -2, 'USD', 'answer', 'answer:' || m.id, 0, 'AI answer',
              m.created_at, m.dialog_id, m.id, -2
       FROM messages m WHERE m.workspace_id = :ws AND m.sender = 'ai'""",
    "ANALYZE",
]


def _ms(samples: list[float]) -> dict[str, float]:
    return {"median_ms": round(statistics.median(samples) * 1000, 1),
            "max_ms": round(max(samples) * 1000, 1)}


async def _seed() -> tuple[int, int, int]:
    from sqlalchemy import text

    from backend_services.core.db import session_scope
    from backend_services.identity.workspaces import create_workspace
    from backend_services.models import Assistant

    async with session_scope() as session:
        ws = await create_workspace(session, name="big")
        small = await create_workspace(session, name="neighbour")
        bots = [Assistant(workspace_id=ws, name=n) for n in ("Shop", "Billing")]
        bots.append(Assistant(workspace_id=small, name="Small"))
        session.add_all(bots)
        await session.flush()
        a1, a2, a3 = (int(b.id or 0) for b in bots)
    for sql in _SEED:
        started = time.perf_counter()
        async with session_scope() as session:
            await session.exec(text(sql), params={  # type: ignore[call-overload]
                "ws": ws, "a1": a1, "a2": a2, "n": DIALOGS, "per": MESSAGES_PER_DIALOG,
                "days": DAYS})
        log(f"  {sql.split()[0]} {sql.split()[2] if len(sql.split()) > 2 else ''}: "
            f"{time.perf_counter() - started:.1f} s")
    async with session_scope() as session:  # the neighbour: a few rows of its own
        await session.exec(text(_SEED[0]), params={  # type: ignore[call-overload]
            "ws": small, "n": 10, "days": 1})
    return ws, a1, a3


async def _run() -> dict[str, Any]:
    from sqlalchemy import text

    from backend_services.analytics import rollup
    from backend_services.analytics.period import Filters
    from backend_services.analytics.questions import questions
    from backend_services.analytics.report import report
    from backend_services.core.db import session_scope
    from backend_services.core.principal import Principal
    from backend_services.models import Role

    log(f"seeding {DIALOGS:,} conversations x {MESSAGES_PER_DIALOG} messages")
    ws, a1, _ = await _seed()
    started = time.perf_counter()
    first = await rollup.refresh()  # the opening questions are read separately
    backfill = time.perf_counter() - started
    log(f"  roll-up backfill: {backfill:.1f} s ({first})")
    started = time.perf_counter()
    for _ in range(4):
        await rollup.read_questions()
    batches = (time.perf_counter() - started) / 4
    incremental = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        await rollup.refresh()
        incremental.append(time.perf_counter() - started)
    async with session_scope() as session:
        count = (await session.exec(text(  # type: ignore[call-overload]
            "SELECT count(*) FROM messages WHERE workspace_id = :ws"),
            params={"ws": ws})).one()[0]
    owner = Principal(user_id=0, workspace_id=ws, role=Role.OWNER)
    today = datetime.now(UTC).date()
    cases: dict[str, Any] = {}
    for days in (7, 30, 90, 180):
        for label, assistant in (("all", None), ("one assistant", a1)):
            f = Filters(today - timedelta(days=days - 1), today, assistant_id=assistant,
                        tz="Europe/Moscow")
            samples = []
            for _ in range(REPEAT):
                started = time.perf_counter()
                r = await report(owner, f)
                samples.append(time.perf_counter() - started)
            name = f"{days} days, {label}"
            cases[name] = {**_ms(samples), "conversations": r.current.conversations,
                           "messages": r.current.messages}
            log(f"  report {name}: {cases[name]}")
    f = Filters(today - timedelta(days=29), today)
    samples = []
    for _ in range(3):
        started = time.perf_counter()
        await questions(owner, f)
        samples.append(time.perf_counter() - started)
    return {"benchmark": "analytics_load", "machine": machine_info(),
            "messages_in_workspace": int(count), "dialogs": DIALOGS,
            "rollup_backfill_s": round(backfill, 1),
            "rollup_run_ms (nothing new)": _ms(incremental),
            f"questions read and embedded per batch of {rollup.QUESTION_BATCH}_s":
                round(batches, 2),
            "report (period + previous period)": cases,
            "questions section, 30 days (newest 1,000 questions grouped)": _ms(samples)}


def main() -> None:
    with bench_database("replyx_bench_analytics"):
        print(json.dumps(asyncio.run(_run()), indent=2))


if __name__ == "__main__":
    main()
