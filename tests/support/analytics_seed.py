"""A week of conversations whose figures are known, made through the real services and
then moved in time, for the analytics tests (integration and browser).

Yesterday in Moscow time, with the AI answering from two Q&A pairs at 10 USD cents an
answer: four conversations — two the AI handled alone (rated 5 and 4, the second closed
after 10 minutes), one a person took (first reply after 120 s, rated 2, closed after 30
minutes), one still waiting for a person (started 00:30 today in Moscow, 21:30 UTC the day
before) — the AI answering the first question of each after 2, 4, 6 and 8 s; and one
conversation nine days earlier, answered after 10 s, for the previous period.

So for the seven days to today in Moscow: 4 conversations (1 before), AI alone 50 %, AI
first response median 5 s (p90 7.4 s), human first response 120 s, resolution median
1200 s (p90 1680 s), AI rated 4.5 from 2, people 2.0 from 1, 9 messages, AI cost 0.40 USD
(0.10 before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from backend_services.billing import adjustments, tariffs
from backend_services.conversations import dialogs, handoff, turns
from backend_services.conversations.actors import ContactActor, contact_actor
from backend_services.conversations.turns import AiReplyDone
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.knowledge import sources

MSK = ZoneInfo("Europe/Moscow")
PAIRS = (("How long does delivery within Germany take?",
          "Delivery within Germany takes two business days."),
         ("When are refunds issued?",
          "Refunds are issued within 14 days of the request, to the card used."))


@dataclass(frozen=True)
class Week:
    yesterday: date  # in Moscow
    late: datetime  # when the fourth conversation started
    waiting_dialog: int


async def ask(who: ContactActor, question: str) -> int:
    """The visitor asks, the AI answers (extractive, as with no model): the dialog id."""
    start = await turns.handle_visitor_message(who, question, None)
    assert start.ai_should_answer
    async for item in turns.stream_ai_reply(who, start.posted.dialog.id,
                                            start.posted.message.id):
        if isinstance(item, AiReplyDone):
            break
    return start.posted.dialog.id


async def backdate(dialog_id: int, at: datetime, ai_after: float, *,
                   closed_after: float | None = None,
                   first_reply: int | None = None) -> None:
    """Move a conversation to `at`: its first message there, the AI's `ai_after` seconds
    later (its charge with it), anything else a minute after that."""
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


async def seed_week(owner: Principal, operator: Principal, platform_admin: Principal,
                    assistant_id: int) -> Week:
    ws = owner.workspace_id
    await tariffs.set_tariff(platform_admin, answer_flat_minor=10)
    await adjustments.adjust(platform_admin, ws, 10_000, "credit for the test")
    for question, answer in PAIRS:
        await sources.save_qa(owner, assistant_id, None, question, answer)
    yesterday = datetime.now(MSK).date() - timedelta(days=1)
    base = datetime.combine(yesterday, time(10, 0), MSK)

    async def visitor(name: str) -> ContactActor:
        return await contact_actor(ws, assistant_id, "widget", name)

    v1 = await visitor("v1")
    d1 = await ask(v1, PAIRS[0][0])
    await dialogs.rate(v1, d1, 5)
    await backdate(d1, base, 2)

    v2 = await visitor("v2")
    d2 = await ask(v2, PAIRS[1][0])
    await dialogs.rate(v2, d2, 4)
    await dialogs.close(v2, d2)
    await backdate(d2, base + timedelta(hours=1), 4, closed_after=600)

    v3 = await visitor("v3")
    d3 = await ask(v3, PAIRS[0][0])
    await turns.request_human(v3, d3)
    await handoff.accept(operator, d3)
    await dialogs.operator_reply(operator, d3, "Refunded, sorry about that.", "r1")
    await dialogs.rate(v3, d3, 2)
    await dialogs.close(operator, d3)
    await backdate(d3, base + timedelta(hours=2), 6, closed_after=1800, first_reply=120)

    v4 = await visitor("v4")
    d4 = await ask(v4, PAIRS[1][0])
    await turns.request_human(v4, d4)
    late = base + timedelta(hours=14, minutes=30)  # 00:30 today in Moscow
    await backdate(d4, late, 8)

    v5 = await visitor("v5")
    d5 = await ask(v5, PAIRS[0][0])
    await backdate(d5, base - timedelta(days=9), 10)
    return Week(yesterday, late, d4)
