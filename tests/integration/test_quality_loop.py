"""The quality loop (issue 13, item 7): what the assistant could not answer is listed,
grouped; an operator's reply becomes a Q&A pair that answers the next visitor; every
saved pair is a knowledge check, and the check reports a case whose source was deleted.

Real PostgreSQL, Valkey and the local embedder; visitors go through the same turn every
channel uses, in extractive mode (no model configured).
"""

from __future__ import annotations

import pytest

from backend_services.conversations import dialogs, handoff
from backend_services.core.errors import NotFound, PermissionDenied
from backend_services.knowledge import checks, ingest, quality, sources
from tests.integration.conversation_helpers import Shop, ask, shop, visitor

SHOP_DOC = b"""# Shop help

## Refunds

Refunds are issued within 14 days of the request, to the card used for the purchase.

## Delivery

Orders ship from our Berlin warehouse. Delivery within Germany takes two business days.
"""
LOYALTY_REPLY = "Yes: every tenth order is free, counted from your first order."


async def _stocked(tag: str = "a") -> Shop:
    s = await shop(tag)
    assert s.bot.id is not None
    doc = await sources.add_file(s.owner, s.bot.id, "shop.md", SHOP_DOC)
    assert await ingest.run_ingestion(doc.id) == "ready"
    return s


async def _handed_over_and_answered(s: Shop) -> int:
    """A visitor asks what the knowledge lacks, asks for a person, Anna answers: her
    reply's message id."""
    bot = s.bot
    loyal = await visitor(bot, "loyal-visitor")
    dialog_id, done = await ask(loyal, "Do you have a loyalty programme?", "l1")
    assert done is not None and done.mode == "unknown"
    _, done = await ask(loyal, "I want to talk to a person", "l2")
    assert done is None, "a request for a person is handed over, not answered"
    await handoff.accept(s.anna, dialog_id)
    reply = await dialogs.operator_reply(s.anna, dialog_id, LOYALTY_REPLY, "r1")
    return reply.id


async def test_what_the_assistant_could_not_answer_is_listed_grouped_with_counts(
    clean: None,
) -> None:
    s = await _stocked()
    assert s.bot.id is not None
    for n, question in enumerate(["Do you sell gift cards?", "Do you offer gift vouchers?",
                                  "Are gift cards available?"]):
        _, done = await ask(await visitor(s.bot, f"gift-{n}"), question, f"g{n}")
        assert done is not None and done.mode == "unknown"
    _, done = await ask(await visitor(s.bot, "happy"), "How long do refunds take?", "h1")
    assert done is not None and done.mode == "extractive"
    _, done = await ask(await visitor(s.bot, "polite"), "Hello!", "p1")
    assert done is not None and done.mode == "smalltalk"
    await _handed_over_and_answered(s)

    found = await quality.gaps(s.owner, s.bot.id)

    by_question = {g.question: g for g in found}
    gift = next(g for g in found if "gift" in g.question.lower())
    assert gift.count == 3, [(g.question, g.count) for g in found]
    assert gift.reasons[0] == "unknown"
    assert len(gift.wordings) == 2 and gift.reply == ""
    assert found[0] is gift, "the most asked gap comes first"
    loyalty = by_question["Do you have a loyalty programme?"]
    assert loyalty.count == 1 and loyalty.reasons == ("unknown", "handoff")
    assert loyalty.reply == LOYALTY_REPLY and loyalty.reply_message_id > 0
    listed = " ".join(g.question + " ".join(g.wordings) for g in found)
    assert "refunds take" not in listed, "an answered question is not a gap"
    assert "Hello" not in listed and "talk to a person" not in listed


async def test_the_operators_reply_saved_as_a_pair_answers_the_next_visitor(clean: None) -> None:
    s = await _stocked()
    assert s.bot.id is not None
    reply_id = await _handed_over_and_answered(s)

    draft = await quality.reply_draft(s.owner, reply_id)
    assert (draft.question, draft.answer) == ("Do you have a loyalty programme?",
                                              LOYALTY_REPLY)
    assert draft.assistant_id == s.bot.id
    saved = await quality.save_reply(s.owner, reply_id, "Is there a loyalty programme?",
                                     draft.answer + " Ask at checkout.")

    _, done = await ask(await visitor(s.bot, "next-visitor"),
                         "do you have any loyalty program?", "n1")
    assert done is not None
    assert LOYALTY_REPLY in done.content
    assert done.mode in ("qa", "extractive")
    [case] = await checks.list_checks(s.owner, s.bot.id)
    assert case.question == "Do you have a loyalty programme?", "the visitor's own words"
    assert case.kind == "qa" and case.expected_title == saved.question


async def test_the_knowledge_check_reports_a_case_whose_source_was_deleted(clean: None) -> None:
    s = await _stocked()
    a = s.bot.id
    assert a is not None
    keep = await sources.save_qa(s.owner, a, None, "Can I pay by invoice?",
                                 "Yes, companies can pay by invoice within 30 days.")
    doomed = await sources.save_qa(s.owner, a, None, "Do you gift-wrap orders?",
                                   "Yes, for 3 EUR per order.")
    [doc] = await sources.list_documents(s.owner, a)
    await checks.keep_answer(s.owner, a, "How long does delivery in Germany take?", doc.id)

    report = await checks.run_checks(s.owner, a)
    assert [c.status for c in report.cases] == ["pass", "pass", "pass"], report

    await sources.delete_qa(s.owner, doomed.id)
    await sources.delete_document(s.owner, doc.id)
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    report = await checks.run_checks(s.owner, a, progress)
    status = {c.question: c for c in report.cases}
    assert status[keep.question].status == "pass"
    gone = status["Do you gift-wrap orders?"]
    assert gone.status == "deleted" and "Do you gift-wrap orders?" in gone.detail
    assert "Q&A pair" in gone.detail
    page = status["How long does delivery in Germany take?"]
    assert page.status == "deleted" and "document «shop.md»" in page.detail
    assert seen == [(1, 3), (2, 3), (3, 3)]
    stored = {c.question: c.status for c in await checks.list_checks(s.owner, a)}
    assert stored == {c.question: c.status for c in report.cases}


async def test_a_pair_rewritten_away_from_its_question_is_reported_as_a_miss(
    clean: None,
) -> None:
    s = await _stocked()
    a = s.bot.id
    assert a is not None
    first = await sources.save_qa(s.owner, a, None, "Do you ship to Austria?",
                                  "Yes, in four business days.")
    # Someone rewrites the pair into another question: its case still asks the old one.
    await sources.save_qa(s.owner, a, first.id, "What is the warranty on headphones?",
                          "Two years.")
    [case] = (await checks.run_checks(s.owner, a)).cases
    assert case.question == "Do you ship to Austria?"
    assert case.status == "miss" and "no longer close enough" in case.detail


async def test_another_workspace_or_an_operator_cannot_use_the_quality_loop(
    clean: None,
) -> None:
    s = await _stocked("a")
    other = await shop("b")
    a = s.bot.id
    assert a is not None
    reply_id = await _handed_over_and_answered(s)
    pair = await sources.save_qa(s.owner, a, None, "Can I pay by invoice?", "Yes.")
    [case] = await checks.list_checks(s.owner, a)

    with pytest.raises(NotFound):
        await quality.gaps(other.owner, a)
    with pytest.raises(NotFound):
        await quality.reply_draft(other.owner, reply_id)
    with pytest.raises(NotFound):
        await quality.save_reply(other.owner, reply_id, "Q?", "A.")
    with pytest.raises(NotFound):
        await checks.run_checks(other.owner, a)
    with pytest.raises(NotFound):
        await checks.list_checks(other.owner, a)
    with pytest.raises(NotFound):
        await checks.delete_check(other.owner, case.id)
    assert other.bot.id is not None
    with pytest.raises(NotFound):
        [doc] = await sources.list_documents(s.owner, a)
        await checks.keep_answer(other.owner, other.bot.id, "Where?", doc.id)
    for call in (quality.gaps(s.anna, a), quality.reply_draft(s.anna, reply_id),
                 checks.run_checks(s.anna, a)):
        with pytest.raises(PermissionDenied):
            await call
    assert [c.id for c in await checks.list_checks(s.owner, a)] == [case.id]
    assert [q.id for q in await sources.list_qa(s.owner, a)] == [pair.id]
    assert await sources.list_qa(other.owner, other.bot.id) == []
