"""A stored widget question always gets exactly one answer, whoever ends up writing it.

The writer of an answer holds a lease in PostgreSQL; these tests play the workers by
holder name (a worker that died simply stops renewing) against real PostgreSQL and the
fake model server, and count in PostgreSQL: one answer per question, one model call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from backend_services.conversations import handoff, pending_answers, turns
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.turns import AiReplyDone
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict
from backend_services.core.settings import reset_settings_cache
from backend_services.models import Message
from tests.integration.conversation_helpers import Shop, eventually, shop, visitor
from tests.integration.test_turns import helpdesk  # noqa: F401  (fixture)
from tests.support.openai_server import OpenAITestServer, Reply

QUESTION = "How long do refunds take?"


@pytest.fixture
def short_leases(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leases of one second, so a dead writer's lease runs out within the test."""
    monkeypatch.setenv("REPLYX_ANSWER_LEASE_SECONDS", "1")
    reset_settings_cache()
    yield
    monkeypatch.delenv("REPLYX_ANSWER_LEASE_SECONDS")
    reset_settings_cache()


async def _answer(actor: ContactActor, dialog_id: int, question_id: int) -> AiReplyDone:
    done: AiReplyDone | None = None
    async for item in turns.stream_ai_reply(actor, dialog_id, question_id):
        if isinstance(item, AiReplyDone):
            done = item
    assert done is not None
    return done


async def _ai_answers(dialog_id: int) -> list[Message]:
    async with session_scope() as s:
        return list(await s.exec(select(Message).where(
            col(Message.dialog_id) == dialog_id, col(Message.sender) == "ai")))


async def _claimed_by(holder: str) -> list[pending_answers.Owed]:
    return await pending_answers.claim_expired(holder, 10)


async def test_an_answer_is_owed_from_the_question_until_the_answer_is_stored(
    helpdesk: Shop, server: OpenAITestServer,  # noqa: F811
) -> None:
    server.script(Reply(text="Refunds take up to 14 days."))
    start = await turns.handle_visitor_message(helpdesk.visitor, QUESTION, "c-1",
                                               answer_holder="web-1")
    assert start.ai_should_answer
    assert await pending_answers.owed_count(helpdesk.owner.workspace_id) == 1

    done = await _answer(helpdesk.visitor, start.posted.dialog.id, start.posted.message.id)

    assert done.message.content == "Refunds take up to 14 days."
    assert await pending_answers.owed_count() == 0


async def test_a_question_whose_writer_died_is_answered_once_by_one_live_worker(
    helpdesk: Shop, server: OpenAITestServer, short_leases: None,  # noqa: F811
) -> None:
    server.script(Reply(text="Refunds take up to 14 days."))
    start = await turns.handle_visitor_message(helpdesk.visitor, QUESTION, "c-1",
                                               answer_holder="web-dead")
    # The writer dies before a word is written: it renews nothing. Two live workers look
    # for its questions at the same moment; the question goes to one of them.
    first, second = await eventually(
        lambda: _both_claim("web-2", "web-3"), "a live worker taking the question over")
    taken = first + second
    assert [o.question_id for o in taken] == [start.posted.message.id]
    owed = taken[0]
    assert owed.actor == helpdesk.visitor and owed.attempts == 2

    done = await _answer(owed.actor, owed.dialog_id, owed.question_id)
    # The dead worker wakes up late and finishes too: the stored answer is replayed.
    late = await _answer(helpdesk.visitor, start.posted.dialog.id, start.posted.message.id)

    assert late.message.id == done.message.id
    assert [m.content for m in await _ai_answers(start.posted.dialog.id)] == [
        "Refunds take up to 14 days."]
    assert len(server.calls()) == 1
    assert await pending_answers.owed_count() == 0


async def _both_claim(a: str, b: str) -> tuple[list[pending_answers.Owed],
                                                 list[pending_answers.Owed]] | None:
    first, second = await asyncio.gather(_claimed_by(a), _claimed_by(b))
    return (first, second) if first or second else None


async def test_a_writer_that_keeps_renewing_keeps_its_question(
    helpdesk: Shop, short_leases: None,  # noqa: F811
) -> None:
    start = await turns.handle_visitor_message(helpdesk.visitor, QUESTION, "c-1",
                                               answer_holder="web-1")
    question = start.posted.message.id
    # A slow model is not a dead worker: while the lease is renewed nobody takes it.
    for _ in range(3):
        assert await pending_answers.renew(question, "web-1")
        assert await _claimed_by("web-2") == []
    # Once it was taken over the old holder's renewals no longer count.
    await eventually(lambda: _claimed_by("web-2"), "the lease running out")
    assert not await pending_answers.renew(question, "web-1")


async def test_a_resend_of_a_question_nobody_answers_any_more_is_answered_then(
    helpdesk: Shop, server: OpenAITestServer, short_leases: None,  # noqa: F811
) -> None:
    server.script(Reply(text="Refunds take up to 14 days."))
    first = await turns.handle_visitor_message(helpdesk.visitor, QUESTION, "c-1",
                                               answer_holder="web-dead")
    # Right away the writer may still be at work: the resend is stored once, not answered.
    early = await turns.handle_visitor_message(helpdesk.visitor, QUESTION, "c-1",
                                               answer_holder="web-2")
    assert early.posted.duplicate and not early.ai_should_answer

    # The writer's lease runs out (it died); the visitor presses Send again.
    await eventually(lambda: _expired(first.posted.message.id), "the lease running out")
    again = await turns.handle_visitor_message(helpdesk.visitor, QUESTION, "c-1",
                                               answer_holder="web-2")
    assert again.ai_should_answer and again.posted.duplicate
    assert again.posted.message.id == first.posted.message.id
    await _answer(helpdesk.visitor, again.posted.dialog.id, again.posted.message.id)

    # Answered now: a further resend changes nothing.
    last = await turns.handle_visitor_message(helpdesk.visitor, QUESTION, "c-1",
                                              answer_holder="web-2")
    assert last.posted.duplicate and not last.ai_should_answer
    async with session_scope() as s:
        visitor_rows = list(await s.exec(select(Message).where(
            col(Message.dialog_id) == first.posted.dialog.id, col(Message.sender) == "visitor")))
    assert len(visitor_rows) == 1
    assert len(await _ai_answers(first.posted.dialog.id)) == 1
    assert len(server.calls()) == 1


async def test_nothing_is_owed_once_a_person_has_the_conversation(
    helpdesk: Shop, server: OpenAITestServer, short_leases: None,  # noqa: F811
) -> None:
    # Asking for a person in words: no answer is owed from the start.
    asked = await turns.handle_visitor_message(helpdesk.visitor, "I want to talk to a human",
                                               "c-1", answer_holder="web-1")
    assert not asked.ai_should_answer
    assert await pending_answers.owed_count() == 0

    # A question left unanswered by a dead writer, then an operator takes the dialog:
    # whoever takes the question over finds a person there and writes nothing.
    other = await visitor(helpdesk.bot, "visitor-2")
    start = await turns.handle_visitor_message(other, QUESTION, "c-2", answer_holder="web-dead")
    await handoff.request(start.posted.dialog.id, helpdesk.owner.workspace_id,
                          reason="test", by="visitor")
    await handoff.accept(helpdesk.anna, start.posted.dialog.id)
    owed = await eventually(lambda: _claimed_by("web-2"), "the lease running out")
    with pytest.raises(Conflict):
        await _answer(owed[0].actor, owed[0].dialog_id, owed[0].question_id)
    assert await pending_answers.owed_count() == 0
    assert await _ai_answers(start.posted.dialog.id) == []
    assert server.calls() == []


async def test_telegram_questions_are_never_leased(helpdesk: Shop) -> None:  # noqa: F811
    """Telegram keeps an update unconfirmed until it is answered; a lease there would let a
    web worker answer into a chat it cannot reach."""
    tg = await visitor(helpdesk.bot, "4242", kind="telegram")
    start = await turns.handle_visitor_message(tg, QUESTION, "tg-1")
    assert start.ai_should_answer
    assert await pending_answers.owed_count() == 0


async def test_another_workspace_cannot_take_a_question_over(
    helpdesk: Shop, short_leases: None,  # noqa: F811
) -> None:
    start = await turns.handle_visitor_message(helpdesk.visitor, QUESTION, "c-1",
                                               answer_holder="web-dead")
    intruder = await shop("b")
    await eventually(lambda: _expired(start.posted.message.id), "the lease running out")
    assert not await pending_answers.claim_resend(
        start.posted.message.id, intruder.owner.workspace_id, "web-evil")
    assert await pending_answers.claim_resend(
        start.posted.message.id, helpdesk.owner.workspace_id, "web-2")


async def _expired(question_id: int) -> bool:
    async with session_scope() as s:
        from sqlalchemy import text

        row = (await s.exec(text(  # type: ignore[call-overload]
            "SELECT lease_until < now() FROM pending_answers WHERE question_id = :q"
        ).bindparams(q=question_id))).first()
        return bool(row and row[0])
