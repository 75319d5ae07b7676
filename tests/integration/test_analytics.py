"""Analytics: the figures of a seeded set of conversations whose answers are known, in the
report and in its CSV; the roll-ups kept current by the jobs' refresh; top questions
grouped; and nothing of another workspace."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from backend_services.analytics import rollup
from backend_services.analytics.period import Filters
from backend_services.analytics.platform import platform_report
from backend_services.analytics.questions import csv_text, questions
from backend_services.analytics.report import csv_table, report
from backend_services.conversations import dialogs, turns
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from tests.integration.conversation_helpers import shop, visitor
from tests.support.analytics_seed import ask, backdate, seed_week


async def test_the_figures_of_a_seeded_week_match_their_definitions_in_the_report_and_csv(
    clean: None
) -> None:
    a = await shop("a", platform_admin=True)
    assert a.bot.id is not None
    week = await seed_week(a.owner, a.anna, a.owner, a.bot.id)
    yesterday, late = week.yesterday, week.late
    assert (await rollup.refresh(from_scratch=True)).ran

    today = yesterday + timedelta(days=1)
    r = await report(a.owner, Filters(today - timedelta(days=6), today, tz="Europe/Moscow"))
    now = r.current
    assert (now.conversations, now.ai_only, now.handed_over) == (4, 2, 2)
    assert now.ai_only_share == 0.5
    assert now.reasons == [("visitor asked for a human", 2)]
    # Medians and 90th percentiles (linear, as PostgreSQL's percentile_cont).
    assert (now.ai_first_response.count, now.ai_first_response.median,
            now.ai_first_response.p90) == (4, 5.0, 7.4)
    assert (now.human_first_response.count, now.human_first_response.median) == (1, 120.0)
    assert (now.resolution.count, now.resolution.median, now.resolution.p90) == (
        2, 1200.0, 1680.0)
    assert (now.rated_ai.count, now.rated_ai.average, now.rated_ai.distribution) == (
        2, 4.5, (0, 0, 0, 1, 1))
    assert (now.rated_human.count, now.rated_human.average, now.rated_human.distribution) == (
        1, 2.0, (0, 1, 0, 0, 0))
    # Visitors' four questions, the AI's four answers, the operator's reply; system
    # notices are not counted.
    assert now.messages == 9
    by_day = {d.day: d for d in now.days}
    assert len(now.days) == 7
    assert (by_day[yesterday.isoformat()].conversations,
            by_day[today.isoformat()].conversations) == (3, 1)
    assert by_day[yesterday.isoformat()].operator_messages == 1
    weekday = yesterday.isoweekday() - 1
    assert [now.hours[weekday][h] for h in (10, 11, 12)] == [1, 1, 1]
    assert now.hours[today.isoweekday() - 1][0] == 1
    assert sum(map(sum, now.hours)) == 4
    assert (now.answers_charged, now.ai_cost_minor, now.ai_answers) == (4, 40, 4)
    assert now.weak_answers == 0  # a Q&A pair answered each question

    before = r.previous
    assert (before.conversations, before.ai_first_response.median) == (1, 10.0)
    assert before.ai_cost_minor == 10

    # The same days read in UTC: the fourth conversation was before midnight there.
    utc_day = late.astimezone(UTC).date()
    in_utc = await report(a.owner, Filters(utc_day - timedelta(days=6), utc_day))
    assert {d.day: d.conversations for d in in_utc.current.days}[utc_day.isoformat()] == (
        4 if utc_day == yesterday else 1)

    summary = {row[0]: row for row in csv.reader(io.StringIO(csv_table(r, "summary")))}
    assert summary["Conversations"][1:4] == ["4", "1", "3.0000"]
    assert summary["Resolved by the AI alone"][1] == "0.5"
    assert summary["AI first response (median)"][1:3] == ["5", "10"]
    assert summary["Human first response (median)"][1:3] == ["120", ""]
    assert summary["AI cost"][1:3] == ["0.40", "0.10"]
    days = list(csv.reader(io.StringIO(csv_table(r, "days"))))
    assert len(days) == 8 and [yesterday.isoformat(), "3", "1", "7", "3", "3", "1"] in days
    stars = list(csv.reader(io.StringIO(csv_table(r, "satisfaction"))))
    assert stars[1] == ["AI alone", "2", "4.5", "0", "0", "0", "1", "1"]
    assert stars[2] == ["a person", "1", "2.0", "0", "1", "0", "0", "0"]
    timings = list(csv.reader(io.StringIO(csv_table(r, "timings"))))
    assert timings[1:] == [["AI first response", "4", "5.0", "7.4"],
                           ["Human first response", "1", "120.0", "120.0"],
                           ["Time to resolution", "2", "1200.0", "1680.0"]]
    hours = list(csv.reader(io.StringIO(csv_table(r, "hours"))))
    assert hours[weekday + 1][1 + 10] == "1"
    with pytest.raises(ValidationFailed):
        csv_table(r, "secrets")


async def test_the_refresh_sees_what_changed_since_its_last_round(clean: None) -> None:
    a = await shop("a")
    first = await ask(a.visitor, "Where is my order?")
    assert (await rollup.refresh(from_scratch=True)).ran
    today = datetime.now(UTC).date()
    f = Filters(today, today)
    r = await report(a.owner, f)
    assert (r.current.conversations, r.current.messages, r.current.rated_ai.count) == (1, 2, 0)

    await dialogs.rate(a.visitor, first, 3)
    other = await visitor(a.bot, "v2")
    await ask(other, "Can I pay by card?")
    assert (await rollup.refresh()).ran  # an ordinary round, from its mark
    r = await report(a.owner, f)
    assert (r.current.conversations, r.current.messages) == (2, 4)
    assert (r.current.rated_ai.count, r.current.rated_ai.average) == (1, 3.0)

    # A second round with nothing new changes nothing (hours are recomputed, not added).
    await rollup.refresh()
    again = await report(a.owner, f)
    assert (again.current.messages, again.current.days) == (4, r.current.days)


async def test_a_workspace_sees_only_its_own_figures(clean: None) -> None:
    a, b = await shop("a"), await shop("b")
    await ask(a.visitor, "Where is my order?")
    await ask(b.visitor, "Hello, where is my parcel?")
    second = await visitor(b.bot, "v2")
    await ask(second, "Can I return shoes?")
    await rollup.refresh(from_scratch=True)
    today = datetime.now(UTC).date()
    f = Filters(today, today)
    assert (await report(a.owner, f)).current.conversations == 1
    assert (await report(b.owner, f)).current.conversations == 2
    assert b.bot.id is not None
    with pytest.raises(NotFound):  # another workspace's assistant is not an empty report
        await report(a.owner, Filters(today, today, assistant_id=b.bot.id))
    with pytest.raises(NotFound):
        await questions(a.owner, Filters(today, today, assistant_id=b.bot.id))
    with pytest.raises(PermissionDenied):  # operators see conversations, not the figures
        await report(a.anna, f)
    with pytest.raises(ValidationFailed):
        await report(a.owner, Filters(today, today, tz="Mars/Olympus"))
    with pytest.raises(ValidationFailed):
        await report(a.owner, Filters(today, today - timedelta(days=1)))
    with pytest.raises(ValidationFailed):
        await report(a.owner, Filters(today, today, channel="fax"))


async def test_top_questions_group_what_asks_the_same_thing(clean: None) -> None:
    a = await shop("a")
    asked = ["Can I change the delivery address of my order?",
             "How do I change the shipping address?",
             "Hi!",  # small talk: the question that follows is the conversation's
             "Как вернуть деньги за заказ?"]
    for i, question in enumerate(asked[:2]):
        await ask(await visitor(a.bot, f"v{i}"), question)
    greeter = await visitor(a.bot, "greeter")
    greeting = await turns.handle_visitor_message(greeter, asked[2], None)
    await turns.handle_visitor_message(greeter, "How can I change my delivery address?",
                                       None)
    await ask(await visitor(a.bot, "ru"), asked[3])
    await rollup.refresh(from_scratch=True)
    assert await rollup.read_questions() == 4
    assert await rollup.read_questions() == 0  # each is read once

    today = datetime.now(UTC).date()
    q = await questions(a.owner, Filters(today, today))
    assert q.read == 4
    assert (q.top[0].count, q.top[0].dialog_id) == (3, greeting.posted.dialog.id)
    assert q.top[0].question == "How can I change my delivery address?"
    assert [t.count for t in q.top[1:]] == [1]
    assert q.unanswered and q.unanswered[0].assistant_id == a.bot.id
    assert q.unanswered[0].weak_answers == 3  # three extractive "I don't know"s
    rows = list(csv.reader(io.StringIO(csv_text(q, "unanswered"))))
    assert rows[1] == ["Bot a", "3", str(q.unanswered[0].handed_over)]
    top = list(csv.reader(io.StringIO(csv_text(q))))
    assert top[1][:2] == ["How can I change my delivery address?", "3"]


async def test_the_rebuild_command_recomputes_the_roll_ups_from_the_conversations(
    clean: None, services: dict[str, str]
) -> None:
    a = await shop("a")
    await ask(a.visitor, "Where is my order?")
    async with session_scope() as session:  # roll-ups lost (say, a restore without them)
        await session.exec(text("TRUNCATE analytics_dialogs, analytics_hours, "  # type: ignore[call-overload]
                                "analytics_marks"))
    done = subprocess.run(
        [sys.executable, "-m", "replyx_app", "analytics-rebuild"], capture_output=True,
        text=True, timeout=120, env={**os.environ, **services}, check=False)
    assert done.returncode == 0, done.stderr
    assert "analytics rebuilt: 1 conversations" in done.stdout
    today = datetime.now(UTC).date()
    r = await report(a.owner, Filters(today, today))
    assert (r.current.conversations, r.current.messages) == (1, 2)


async def test_platform_admins_see_the_whole_installation_and_nobody_else_does(
    clean: None
) -> None:
    a = await shop("a", platform_admin=True)
    b, c = await shop("b"), await shop("c")
    await ask(a.visitor, "Where is my order?")
    await ask(b.visitor, "Hello, where is my parcel?")
    quiet = await ask(c.visitor, "Do you deliver on Sundays?")
    await backdate(quiet, datetime.now(UTC) - timedelta(days=40), 3)
    async with session_scope() as session:  # a model call and a paid top-up, as stored
        key = (await session.exec(text(  # type: ignore[call-overload]
            "INSERT INTO ai_provider_keys (name, base_url, api_key_encrypted, key_hint, "
            "requests_per_minute, tokens_per_minute, is_enabled, disabled_reason) VALUES "
            "('Main', 'https://api.example.com/v1', 'x', '', 60, 1000, true, '') "
            "RETURNING id"))).one()[0]
        await session.exec(text(  # type: ignore[call-overload]
            "INSERT INTO ai_usage (workspace_id, key_id, model, tokens_in, tokens_out, "
            "cost_micro, currency, latency_ms, status) VALUES "
            "(:w, :k, 'gpt-4o-mini', 1200, 300, 2500000, 'USD', 800, 'ok')"),
            params={"w": b.owner.workspace_id, "k": key})
        await session.exec(text(  # type: ignore[call-overload]
            "INSERT INTO payments (workspace_id, gateway, order_id, amount_minor, currency, "
            "status, payment_url, failure, refunded_minor, paid_at) VALUES "
            "(:w, 'tinkoff', 'o-1', 50000, 'RUB', 'paid', '', '', 10000, now())"),
            params={"w": b.owner.workspace_id})
    await rollup.refresh(from_scratch=True)

    today = datetime.now(UTC).date()
    r = await platform_report(a.owner, today - timedelta(days=6), today)
    assert r.days[-1].signups == 9 and r.days[-1].workspaces == 3  # three shops of three
    assert (r.days[-1].active, r.days[-1].messages, r.active) == (2, 4, 2)
    assert [(m.model, m.provider, m.tokens_in, m.tokens_out, m.cost_micro) for m in r.models
            ] == [("gpt-4o-mini", "Main (api.example.com)", 1200, 300, 2_500_000)]
    assert [(v.currency, v.payments, v.amount_minor) for v in r.revenue] == [
        ("RUB", 1, 40_000)]
    assert {w.name for w in r.top} == {"Shop a", "Shop b"}
    assert [q.name for q in r.quiet] == ["Shop c"]
    with pytest.raises(PermissionDenied):
        await platform_report(b.owner, today, today)
