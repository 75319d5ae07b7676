"""Analytics: the figures of a seeded set of conversations whose answers are known, in the
report and in its CSV; the roll-ups kept current by the jobs' refresh; top questions
grouped; and nothing of another workspace."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from backend_services.analytics import rollup
from backend_services.analytics.period import Filters
from backend_services.analytics.questions import questions
from backend_services.analytics.report import csv_table, report
from backend_services.billing import adjustments, tariffs
from backend_services.conversations import dialogs, handoff, turns
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.turns import AiReplyDone
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, PermissionDenied, ValidationFailed
from tests.integration.conversation_helpers import Shop, ingested, shop, visitor

MSK = ZoneInfo("Europe/Moscow")
HELP = b"""# Shop help

## Refunds

Refunds are issued within 14 days of the request, to the card used for the purchase.

## Delivery

Orders ship from our Berlin warehouse. Delivery within Germany takes two business days.
"""


async def _ask(who: ContactActor, question: str) -> int:
    """The visitor asks, the AI answers (extractive, as with no model): the dialog id."""
    start = await turns.handle_visitor_message(who, question, None)
    assert start.ai_should_answer
    async for item in turns.stream_ai_reply(who, start.posted.dialog.id,
                                            start.posted.message.id):
        if isinstance(item, AiReplyDone):
            break
    return start.posted.dialog.id


async def _backdate(dialog_id: int, at: datetime, ai_after: float, *,
                    closed_after: float | None = None,
                    first_reply: int | None = None) -> None:
    """Move a conversation to `at`: its visitor message there, the AI's `ai_after` seconds
    later (its charge with it), anything later a minute after that."""
    async with session_scope() as session:
        rows = list(await session.exec(text(  # type: ignore[call-overload]
            "SELECT id, sender FROM messages WHERE dialog_id = :d ORDER BY id"),
            params={"d": dialog_id}))
        for i, (mid, sender) in enumerate(rows):
            moment = at if i == 0 else at + timedelta(
                seconds=ai_after if sender == "ai" else ai_after + 60 + i)
            await session.exec(text(  # type: ignore[call-overload]
                "UPDATE messages SET created_at = :t WHERE id = :m"),
                params={"t": moment, "m": mid})
            await session.exec(text(  # type: ignore[call-overload]
                "UPDATE ledger_entries SET created_at = :t WHERE message_id = :m"),
                params={"t": moment, "m": mid})
        await session.exec(text(  # type: ignore[call-overload]
            "UPDATE dialogs SET created_at = :t, closed_at = :c, "
            "first_reply_seconds = coalesce(CAST(:f AS integer), first_reply_seconds) "
            "WHERE id = :d"),
            params={"t": at, "d": dialog_id, "f": first_reply,
                    "c": None if closed_after is None else at + timedelta(
                        seconds=closed_after)})


async def _seed(a: Shop) -> tuple[date, datetime]:
    """Four conversations yesterday (Moscow time; the fourth just after midnight, today),
    one ten days ago. Returns (yesterday in Moscow, the fourth conversation's moment)."""
    await tariffs.set_tariff(a.owner, answer_flat_minor=10)
    await adjustments.adjust(a.owner, a.owner.workspace_id, 10_000, "credit for the test")
    assert a.bot.id is not None
    await ingested(a.owner, a.bot.id, "help.md", HELP)
    yesterday = datetime.now(MSK).date() - timedelta(days=1)
    base = datetime.combine(yesterday, time(10, 0), MSK)

    d1 = await _ask(a.visitor, "How long does delivery within Germany take?")
    await dialogs.rate(a.visitor, d1, 5)
    await _backdate(d1, base, 2)

    v2 = await visitor(a.bot, "v2")
    d2 = await _ask(v2, "When are refunds issued?")
    await dialogs.rate(v2, d2, 4)
    await dialogs.close(v2, d2)
    await _backdate(d2, base + timedelta(hours=1), 4, closed_after=600)

    v3 = await visitor(a.bot, "v3")
    d3 = await _ask(v3, "How long does delivery in Germany take?")
    await turns.request_human(v3, d3)
    await handoff.accept(a.anna, d3)
    await dialogs.operator_reply(a.anna, d3, "Refunded, sorry about that.", "r1")
    await dialogs.rate(v3, d3, 2)
    await dialogs.close(a.anna, d3)
    await _backdate(d3, base + timedelta(hours=2), 6, closed_after=1800, first_reply=120)

    v4 = await visitor(a.bot, "v4")
    d4 = await _ask(v4, "Are refunds issued to the card used?")
    await turns.request_human(v4, d4)
    late = base + timedelta(hours=14, minutes=30)  # 00:30 today in Moscow
    await _backdate(d4, late, 8)

    v5 = await visitor(a.bot, "v5")
    d5 = await _ask(v5, "Where do orders ship from?")
    await _backdate(d5, base - timedelta(days=9), 10)
    return yesterday, late


async def test_the_figures_of_a_seeded_week_match_their_definitions_in_the_report_and_csv(
    clean: None, worker: None
) -> None:
    a = await shop("a", platform_admin=True)
    yesterday, late = await _seed(a)
    assert (await rollup.refresh(from_scratch=True)).ran

    today = yesterday + timedelta(days=1)
    week = Filters(today - timedelta(days=6), today, tz="Europe/Moscow")
    r = await report(a.owner, week)
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
    assert now.weak_answers == 0  # the knowledge answered each question

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
    hours = list(csv.reader(io.StringIO(csv_table(r, "hours"))))
    assert hours[weekday + 1][1 + 10] == "1"
    with pytest.raises(ValidationFailed):
        csv_table(r, "secrets")


async def test_the_refresh_sees_what_changed_since_its_last_round(clean: None) -> None:
    a = await shop("a")
    first = await _ask(a.visitor, "Where is my order?")
    assert (await rollup.refresh(from_scratch=True)).ran
    today = datetime.now(UTC).date()
    f = Filters(today, today)
    r = await report(a.owner, f)
    assert (r.current.conversations, r.current.messages, r.current.rated_ai.count) == (1, 2, 0)

    await dialogs.rate(a.visitor, first, 3)
    other = await visitor(a.bot, "v2")
    await _ask(other, "Can I pay by card?")
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
    await _ask(a.visitor, "Where is my order?")
    await _ask(b.visitor, "Hello, where is my parcel?")
    second = await visitor(b.bot, "v2")
    await _ask(second, "Can I return shoes?")
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
        await _ask(await visitor(a.bot, f"v{i}"), question)
    greeter = await visitor(a.bot, "greeter")
    greeting = await turns.handle_visitor_message(greeter, asked[2], None)
    await turns.handle_visitor_message(greeter, "How can I change my delivery address?",
                                       None)
    await _ask(await visitor(a.bot, "ru"), asked[3])
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
