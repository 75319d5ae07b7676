"""A visitor's turn through the one path every channel uses: rate limit, store, policy
triggers, the AI's streamed answer (stored with sources and usage), and hand-offs.

Real PostgreSQL, Valkey, ingestion worker, local embedder, and the fake OpenAI-compatible
server for the model; what the server received is what a provider would have received.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from prometheus_client import REGISTRY
from sqlmodel import col, select

from backend_services.ai import keys as ai_keys
from backend_services.ai import pricing
from backend_services.conversations import dialogs, handoff, policy, turns
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.admission import AnswerGate
from backend_services.conversations.policy import BusinessHours, HandoffPolicy
from backend_services.conversations.turns import AiReplyDone
from backend_services.core.db import session_scope
from backend_services.core.errors import Busy, Conflict, NotFound, RateLimited
from backend_services.core.settings import reset_settings_cache
from backend_services.knowledge.answers import STRINGS
from backend_services.models import AIUsage, Message
from tests.integration.conversation_helpers import Shop, ingested, shop, visitor
from tests.support.openai_server import OpenAITestServer, Reply

SHOP_DOC = b"""# Shop help

## Refunds

Refunds are issued within 14 days of the request, to the card used for the purchase.

## Delivery

Orders ship from our Berlin warehouse. Delivery within Germany takes two business days.
"""


async def _ingest(s: Shop) -> None:
    assert s.bot.id is not None
    await ingested(s.owner, s.bot.id, "shop.md", SHOP_DOC)


@pytest_asyncio.fixture
async def helpdesk(worker: None, server: OpenAITestServer) -> Shop:
    """A shop whose assistant knows the shop's help page and has a model key."""
    s = await shop(platform_admin=True)
    await _ingest(s)
    await ai_keys.add_key(s.owner, "main", server.base_url, "sk-test-0001", [], 100, 100_000)
    return s


async def _turn(actor: ContactActor, text: str, cid: str) -> tuple[turns.TurnStart, str,
                                                                  AiReplyDone | None]:
    """Send, and stream the AI's answer when it should answer: (start, text, done)."""
    start = await turns.handle_visitor_message(actor, text, cid, ip="203.0.113.7")
    if not start.ai_should_answer:
        return start, "", None
    parts: list[str] = []
    done: AiReplyDone | None = None
    async for item in turns.stream_ai_reply(actor, start.posted.dialog.id,
                                            start.posted.message.id):
        if isinstance(item, AiReplyDone):
            done = item
        else:
            assert done is None
            parts.append(item)
    assert done is not None
    return start, "".join(parts), done


# ------------------------------------------------------------------------ the AI answers


async def test_the_ai_streams_an_answer_stored_with_sources_confidence_and_usage(
    helpdesk: Shop, server: OpenAITestServer
) -> None:
    s = helpdesk
    await pricing.set_price(s.owner, "gpt-4o-mini", pricing.parse_price("150"),
                            pricing.parse_price("600"), "usd")
    server.script(Reply(text="Refunds take up to 14 days, back to your card [1].",
                        prompt_tokens=1000, completion_tokens=20))

    start, streamed, done = await _turn(s.visitor, "How long do refunds take?", "c-1")

    assert start.ai_should_answer and start.handoff is None and done is not None
    assert streamed == done.message.content == (
        "Refunds take up to 14 days, back to your card [1].")
    assert done.message.sender == "ai" and done.handoff is None
    assert done.message.sources[0]["kind"] == "document"
    assert done.message.sources[0]["passage"].startswith("Refunds are issued")
    assert set(done.message.sources[0]) == {"kind", "title", "passage", "ref_id"}
    assert done.message.confidence is not None and done.message.confidence > 0
    async with session_scope() as ss:
        row = await ss.get(Message, done.message.id)
        [usage] = list(await ss.exec(select(AIUsage)))
    assert row is not None
    assert (row.tokens_in, row.tokens_out, row.model, row.answer_mode) == (
        1000, 20, "gpt-4o-mini", "llm")
    assert row.key_id is not None and row.latency_ms >= 0
    # The exact cost is kept in micro-units, the same figure as the usage row.
    assert (row.cost_micro, row.cost_currency) == (usage.cost_micro, "USD")
    assert row.cost_micro > 0 and row.cost_minor == -(-row.cost_micro // pricing.MICRO)
    assert usage.message_id == row.id
    visible = await dialogs.history(s.visitor, start.posted.dialog.id)
    assert [m.sender for m in visible] == ["visitor", "ai"]

    # Asking to answer the same question again replays the stored answer, at no cost.
    replay = [i async for i in turns.stream_ai_reply(s.visitor, start.posted.dialog.id,
                                                     start.posted.message.id)]
    assert replay[0] == streamed and isinstance(replay[-1], AiReplyDone)
    assert replay[-1].message.id == done.message.id
    assert len(server.calls()) == 1
    # And a retried send is stored once and not answered again.
    retry = await turns.handle_visitor_message(s.visitor, "How long do refunds take?", "c-1")
    assert retry.posted.duplicate and not retry.ai_should_answer


async def test_after_hand_back_the_ai_answers_again_seeing_the_visible_conversation(
    helpdesk: Shop, server: OpenAITestServer
) -> None:
    s = helpdesk
    server.script(Reply(text="Refunds take 14 days [1]."))
    first, _, _ = await _turn(s.visitor, "How long do refunds take?", "c-1")
    d = first.posted.dialog.id
    await dialogs.add_note(s.anna, d, "INTERNAL: VIP customer")
    await handoff.accept(s.anna, d)

    busy, _, _ = await _turn(s.visitor, "And delivery to Berlin?", "c-2")
    assert not busy.ai_should_answer  # a person has it: the AI stays quiet
    with pytest.raises(Conflict, match="person is handling"):
        async for _ in turns.stream_ai_reply(s.visitor, d, busy.posted.message.id):
            pass
    await dialogs.operator_reply(s.anna, d, "Two business days within Germany.", "r-1")
    await handoff.release(s.anna, d)

    server.script(Reply(text="Orders ship from Berlin [1]."))
    again, streamed, done = await _turn(s.visitor, "Where do orders ship from?", "c-3")

    assert again.ai_should_answer and done is not None
    assert done.message.sender == "ai" and streamed == "Orders ship from Berlin [1]."
    sent = server.calls()[-1].messages
    turns_seen = [(m["role"], m["content"]) for m in sent[2:]]
    assert turns_seen == [
        ("user", "How long do refunds take?"),
        ("assistant", "Refunds take 14 days [1]."),
        ("user", "And delivery to Berlin?"),
        ("assistant", "Two business days within Germany."),
        ("user", "Where do orders ship from?"),
    ]
    assert "INTERNAL" not in str(sent) and "joined the conversation" not in str(sent)


# ------------------------------------------------------------------------ triggers


async def test_visitor_phrases_in_russian_and_english_bring_a_person(clean: None) -> None:
    ru = await shop("ru", language="ru")
    en = await shop("en")

    start_ru, _, _ = await _turn(ru.visitor, "Позовите оператора, пожалуйста", "c-1")
    start_en, _, _ = await _turn(en.visitor, "Can I talk to a human?", "c-1")

    for start in (start_ru, start_en):
        assert not start.ai_should_answer
        assert start.handoff is not None and start.handoff.outcome == "queued"
        assert start.posted.dialog.status == "requested"
    assert start_ru.handoff is not None and start_ru.handoff.message is not None
    assert start_ru.handoff.message.content == (
        "Соединяем вас с сотрудником… Пожалуйста, не закрывайте чат.")
    [t] = await handoff.transitions(ru.anna, start_ru.posted.dialog.id)
    assert (t.actor, t.reason) == ("visitor", "visitor asked: “позовите оператора”")
    queue = await dialogs.search(en.anna, dialogs.DialogFilter(scope="queue"))
    assert [(v.id, v.handoff_reason) for v in queue] == [
        (start_en.posted.dialog.id, "visitor asked: “talk to a human”")]


async def test_an_indirect_request_brings_a_person_and_a_near_miss_is_answered(
    clean: None
) -> None:
    s = await shop()
    asked, _, _ = await _turn(s.visitor, "is there someone who can actually look at my order?",
                              "c-1")
    assert not asked.ai_should_answer and asked.handoff is not None
    [t] = await handoff.transitions(s.anna, asked.posted.dialog.id)
    assert t.reason.startswith("visitor asked for a person")

    other = await shop("b")
    near, _, done = await _turn(other.visitor, "How do I add a manager to my team?", "c-1")
    assert near.ai_should_answer and near.handoff is None
    assert done is not None and done.message.sender == "ai"


async def test_hello_gets_a_greeting_in_the_visitors_language_not_a_person(
    clean: None
) -> None:
    en, ru = await shop("en"), await shop("ru", language="ru")
    start_en, _, done_en = await _turn(en.visitor, "Hello!", "c-1")
    start_ru, _, done_ru = await _turn(ru.visitor, "Спасибо!", "c-1")
    for start, done in ((start_en, done_en), (start_ru, done_ru)):
        assert start.ai_should_answer and start.handoff is None
        assert done is not None and done.handoff is None
        assert start.posted.dialog.status == "ai"
    assert done_en is not None and done_ru is not None
    assert done_en.message.content == "Hello! How can I help you today?"
    assert done_ru.message.content == "Пожалуйста! Могу ещё чем-нибудь помочь?"


async def test_a_tenant_keyword_brings_a_person(clean: None) -> None:
    s = await shop()
    assert s.bot.id is not None
    await policy.update_policy(s.owner, s.bot.id, replace(HandoffPolicy(),
                                                          keywords=["chargeback"]))
    start, _, _ = await _turn(s.visitor, "I will file a Chargeback with my bank", "c-1")
    assert start.handoff is not None and start.handoff.reason == "keyword: “chargeback”"
    assert start.posted.dialog.status == "requested"


async def test_an_answer_that_found_nothing_brings_a_person(clean: None) -> None:
    s = await shop()  # no knowledge at all: the AI can only say it does not know
    start, streamed, done = await _turn(s.visitor, "What is the meaning of life?", "c-1")

    assert start.ai_should_answer and done is not None
    assert streamed == STRINGS["en"]["unknown"]
    assert done.handoff is not None and done.handoff.outcome == "queued"
    assert done.handoff.reason == policy.REASON_NO_ANSWER
    assert (await dialogs.get_dialog(s.anna, start.posted.dialog.id)).status == "requested"
    [t] = await handoff.transitions(s.anna, start.posted.dialog.id)
    assert (t.actor, t.reason) == ("system", policy.REASON_NO_ANSWER)


async def test_an_unsure_answer_brings_a_person(helpdesk: Shop, server: OpenAITestServer) -> None:
    s = helpdesk
    # The provider breaks off mid-answer: the engine keeps the text and marks it unsure.
    server.script(Reply(text="Refunds are issued within fourteen days.", break_after=2,
                        break_with="malformed"))
    _, _, done = await _turn(s.visitor, "How long do refunds take?", "c-1")
    assert done is not None and done.handoff is not None
    assert done.handoff.reason == policy.REASON_LOW_CONFIDENCE
    assert done.handoff.dialog.status == "requested"


async def test_n_failed_answers_in_a_row_bring_a_person(clean: None) -> None:
    s = await shop()
    assert s.bot.id is not None
    await policy.update_policy(s.owner, s.bot.id, replace(
        HandoffPolicy(), on_low_confidence=False, on_no_answer=False,
        failed_answers_threshold=2))

    _, _, first = await _turn(s.visitor, "What is the meaning of life?", "c-1")
    _, _, second = await _turn(s.visitor, "And of the universe?", "c-2")

    assert first is not None and first.handoff is None
    assert second is not None and second.handoff is not None
    assert second.handoff.reason == "2 failed AI answers in a row"


async def test_a_disabled_policy_keeps_the_ai_on_whatever_the_visitor_says(
    clean: None
) -> None:
    s = await shop()
    assert s.bot.id is not None
    await policy.update_policy(s.owner, s.bot.id, replace(HandoffPolicy(), enabled=False))

    start, _, done = await _turn(s.visitor, "оператор!", "c-1")
    assert start.ai_should_answer and start.handoff is None
    assert done is not None and done.handoff is None  # found nothing, still no handoff
    pressed = await turns.request_human(s.visitor, start.posted.dialog.id)
    assert pressed.outcome == "disabled" and pressed.message is not None
    assert pressed.dialog.status == "ai"


async def test_outside_business_hours_asking_for_a_person_gets_the_offline_message(
    clean: None
) -> None:
    s = await shop()
    assert s.bot.id is not None
    another_day = (datetime.now(UTC).weekday() + 3) % 7
    await policy.update_policy(s.owner, s.bot.id, replace(HandoffPolicy(), business_hours=(
        BusinessHours(timezone="UTC", days={another_day: [("09:00", "18:00")]},
                      always_open=False))))

    start, _, _ = await _turn(s.visitor, "talk to a person please", "c-1")

    assert start.handoff is not None and start.handoff.outcome == "offline"
    assert not start.ai_should_answer
    assert start.posted.dialog.awaiting_contact
    assert start.handoff.message is not None
    assert start.handoff.message.content == policy.DEFAULT_OFFLINE_EN


async def test_only_the_visitor_of_a_dialog_can_ask_for_a_human_or_an_answer_in_it(
    clean: None
) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "hi", "c-1")).dialog.id
    stranger = await visitor(s.bot, "stranger")
    with pytest.raises(NotFound):
        await turns.request_human(stranger, d)
    other_tenant = await shop("b")
    asked = await dialogs.visitor_message(s.visitor, "and now?", "c-2")
    for intruder in (stranger, other_tenant.visitor):
        with pytest.raises(NotFound):
            async for _ in turns.stream_ai_reply(intruder, d, asked.message.id):
                pass
    pressed = await turns.request_human(s.visitor, d)
    assert pressed.outcome == "queued" and pressed.reason == policy.REASON_VISITOR_BUTTON


# ------------------------------------------------------------------------ rate limits


@pytest.fixture
def tight_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("REPLYX_VISITOR_MESSAGES_PER_MINUTE", "3")
    monkeypatch.setenv("REPLYX_VISITOR_MESSAGES_PER_IP_PER_MINUTE", "4")
    reset_settings_cache()
    yield
    monkeypatch.delenv("REPLYX_VISITOR_MESSAGES_PER_MINUTE")
    monkeypatch.delenv("REPLYX_VISITOR_MESSAGES_PER_IP_PER_MINUTE")
    reset_settings_cache()


async def _stored() -> list[str]:
    async with session_scope() as ss:
        return [m.content for m in await ss.exec(select(Message).order_by(col(Message.id)))]


async def test_a_burst_is_refused_with_a_friendly_message_and_nothing_refused_is_stored(
    clean: None, tight_limits: None
) -> None:
    s = await shop()
    for n in range(3):
        await turns.handle_visitor_message(s.visitor, f"msg {n}", f"c-{n}", ip="198.51.100.1")
    with pytest.raises(RateLimited, match="sending messages too quickly") as refused:
        await turns.handle_visitor_message(s.visitor, "msg 3", "c-3", ip="198.51.100.1")
    assert 1 <= refused.value.retry_after <= 60
    assert await _stored() == ["msg 0", "msg 1", "msg 2"]

    # Others behind the same address share the per-IP allowance.
    neighbour = await visitor(s.bot, "neighbour")
    await turns.handle_visitor_message(neighbour, "hello", "c-1", ip="198.51.100.1")
    with pytest.raises(RateLimited):
        await turns.handle_visitor_message(neighbour, "hello again", "c-2", ip="198.51.100.1")
    elsewhere = await visitor(s.bot, "elsewhere")
    await turns.handle_visitor_message(elsewhere, "hi from elsewhere", "c-1", ip="192.0.2.9")
    assert await _stored() == ["msg 0", "msg 1", "msg 2", "hello", "hi from elsewhere"]


async def test_a_worker_at_its_answer_limit_refuses_new_messages_without_storing_them(
    clean: None,
) -> None:
    """Overload control: while this process writes as many answers as it may, a new
    message is refused with a plain "send it again" and not stored (nothing to answer
    late, nothing lost: the widget keeps the text); once an answer is done it goes in."""
    s = await shop()
    gate = AnswerGate(limit=1)
    refusals = REGISTRY.get_sample_value("replyx_ai_answers_refused_busy_total") or 0.0
    await turns.handle_visitor_message(s.visitor, "first", "c-1", gate=gate)
    with gate.answering():
        assert REGISTRY.get_sample_value("replyx_ai_answers_in_flight") == 1.0
        with pytest.raises(Busy, match="send your message again") as refused:
            await turns.handle_visitor_message(s.visitor, "second", "c-2", gate=gate)
        assert refused.value.code == "busy"
        assert await _stored() == ["first"]
    assert REGISTRY.get_sample_value("replyx_ai_answers_refused_busy_total") == refusals + 1
    assert REGISTRY.get_sample_value("replyx_ai_answers_in_flight") == 0.0
    started = await turns.handle_visitor_message(s.visitor, "second", "c-2", gate=gate)
    assert started.ai_should_answer and not started.posted.duplicate
    assert await _stored() == ["first", "second"]
    assert gate.in_flight == 0
