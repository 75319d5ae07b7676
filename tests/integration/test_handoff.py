"""Handing conversations between the AI and people: the race to take one, transfers,
hand-back, closing, the handoff policy and business hours, the no-operator timeout, SLA.

Real PostgreSQL and Valkey (`clean`). Time-dependent rules take an explicit `now`, so no
test waits for a clock.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from backend_services.conversations import dialogs, handoff, intent, policy
from backend_services.conversations.actors import ContactActor
from backend_services.conversations.handoff import AlreadyTaken
from backend_services.conversations.policy import BusinessHours, HandoffPolicy
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from backend_services.models import AuditLog, HandoffEvent
from replyx_app.jobs_worker import load_tasks
from tests.integration.conversation_helpers import member, shop, visitor

# A Monday, 12:00 in Moscow (09:00 UTC), and the Sunday before it.
MONDAY_NOON_MSK = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
SUNDAY = MONDAY_NOON_MSK - timedelta(days=1)
WEEKDAYS_9_TO_6 = BusinessHours(
    timezone="Europe/Moscow",
    days={d: [("09:00", "18:00")] for d in range(5)},
    always_open=False,
)


async def _waiting(actor: ContactActor) -> int:
    """A dialog whose visitor has asked for a person (now, within business hours)."""
    posted = await dialogs.visitor_message(actor, "help", "c-1")
    await handoff.request(posted.dialog.id, posted.dialog.workspace_id, reason="visitor asked",
                          by="visitor")
    return posted.dialog.id


# ------------------------------------------------------------------------ taking a dialog


async def test_two_operators_racing_to_take_a_dialog_exactly_one_wins_and_the_loser_is_told_who(
    clean: None
) -> None:
    s = await shop()
    for round_ in range(5):
        other = await visitor(s.bot, f"racer-{round_}")
        d = (await dialogs.visitor_message(other, "anyone?", "c-1")).dialog.id
        await handoff.request(d, s.owner.workspace_id, reason="visitor asked", by="visitor")

        results = await asyncio.gather(handoff.accept(s.anna, d), handoff.accept(s.boris, d),
                                       return_exceptions=True)

        wins = [r for r in results if not isinstance(r, BaseException)]
        losses = [r for r in results if isinstance(r, BaseException)]
        assert len(wins) == 1 and len(losses) == 1
        [winner], [loser] = wins, losses
        assert isinstance(loser, AlreadyTaken)
        holder = "Anna" if winner.assigned_user_id == s.anna.user_id else "Boris"
        assert loser.message == f"{holder} is already handling this conversation."
        assert winner.status == "active"
        history = await dialogs.history(other, d)
        assert [m.content for m in history].count(f"{holder} joined the conversation.") == 1
        async with session_scope() as ss:
            taken = list(await ss.exec(select(HandoffEvent).where(
                col(HandoffEvent.dialog_id) == d, col(HandoffEvent.to_state) == "active")))
        assert len(taken) == 1


async def test_an_operator_may_take_over_from_the_ai_and_taking_twice_is_harmless(
    clean: None
) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "hello", "c-1")).dialog.id
    first = await handoff.accept(s.anna, d)
    again = await handoff.accept(s.anna, d)
    assert first.status == again.status == "active"
    assert first.handoff_requested_at is None  # nobody asked: no wait to measure
    steps = await handoff.transitions(s.anna, d)
    assert [(t.from_state, t.to_state, t.reason) for t in steps] == [
        ("ai", "active", "taken over from the AI")
    ]


# ------------------------------------------------------------------------ the record


async def test_every_transition_is_recorded_with_who_and_why(clean: None) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "I need a person", "c-1")).dialog.id
    await handoff.request(d, s.owner.workspace_id, reason="visitor asked for a human",
                          by="visitor")
    await handoff.accept(s.anna, d)
    await handoff.transfer(s.anna, d, s.boris.user_id)
    await handoff.release(s.boris, d)
    await handoff.request(d, s.owner.workspace_id, reason="the AI found no answer",
                          by="system")
    await handoff.release(s.anna, d)  # any operator may send a waiting visitor back
    await dialogs.close(s.visitor, d)

    steps = [(t.from_state, t.to_state, t.actor, t.actor_name, t.reason)
             for t in await handoff.transitions(s.owner, d)]
    assert steps == [
        ("ai", "requested", "visitor", "", "visitor asked for a human"),
        ("requested", "active", "user", "Anna", "taken from the queue"),
        ("active", "active", "user", "Anna", "transferred to Boris"),
        ("active", "ai", "user", "Boris", "handed back to the AI"),
        ("ai", "requested", "system", "", "the AI found no answer"),
        ("requested", "ai", "user", "Anna", "handed back to the AI"),
        ("ai", "closed", "visitor", "", "closed by the visitor"),
    ]
    seen = [m.content for m in await dialogs.history(s.visitor, d) if m.sender == "system"]
    assert seen == [
        "Connecting you to a person… Please stay in the chat.",
        "Anna joined the conversation.",
        "You have been transferred to Boris.",
        "The operator left the conversation. The AI assistant will continue.",
        "Connecting you to a person… Please stay in the chat.",
        "The operator left the conversation. The AI assistant will continue.",
        "The conversation was closed.",
    ]


async def test_a_second_request_while_waiting_or_taken_changes_nothing(clean: None) -> None:
    s = await shop()
    d = await _waiting(s.visitor)
    again = await handoff.request(d, s.owner.workspace_id, reason="again", by="visitor")
    assert again.outcome == "already" and again.message is None
    await handoff.accept(s.anna, d)
    taken = await handoff.request(d, s.owner.workspace_id, reason="again", by="system")
    assert taken.outcome == "already" and taken.dialog.status == "active"
    assert len(await handoff.transitions(s.anna, d)) == 2


# ------------------------------------------------------------------------ who may do what


async def test_transfers_go_to_teammates_and_only_the_handler_or_an_admin_moves_a_taken_dialog(
    clean: None
) -> None:
    s = await shop()
    other = await shop("b")
    carl = await member(s.owner.workspace_id, "carl@example.com", "Carl")
    d = await _waiting(s.visitor)
    await handoff.accept(s.anna, d)

    with pytest.raises(PermissionDenied):
        await handoff.transfer(s.boris, d, s.boris.user_id)
    with pytest.raises(PermissionDenied):
        await handoff.release(s.boris, d)
    with pytest.raises(NotFound, match="not in this workspace"):
        await handoff.transfer(s.anna, d, other.anna.user_id)
    with pytest.raises(Conflict, match="Anna already has"):
        await handoff.transfer(s.anna, d, s.anna.user_id)

    moved = await handoff.transfer(s.owner, d, carl.user_id)  # an admin may step in
    assert (moved.status, moved.assigned_user_id, moved.assigned_user_name) == (
        "active", carl.user_id, "Carl")
    with pytest.raises(Conflict, match="Carl is handling"):
        await dialogs.operator_reply(s.anna, d, "still me", "r-1")
    back = await handoff.release(carl, d)
    assert (back.status, back.assigned_user_id) == ("ai", None)
    with pytest.raises(Conflict, match="already handling"):
        await handoff.release(carl, d)
    with pytest.raises(Conflict, match="transferred"):
        await handoff.transfer(s.owner, d, carl.user_id)


# ------------------------------------------------------------------------ policy


async def test_policy_defaults_and_validation_and_only_admins_change_it(clean: None) -> None:
    s = await shop()
    other = await shop("b")
    assert s.bot.id is not None and other.bot.id is not None
    default = await policy.get_policy(s.anna, s.bot.id)
    assert default.enabled and default.business_hours.always_open
    assert "позовите оператора" in default.phrases_ru and "talk to a human" in default.phrases_en
    assert "operator" not in default.phrases_en and "менеджер" not in default.phrases_ru

    bad = [
        (replace(default, on_timeout="shrug"), "nobody accepts"),
        (replace(default, accept_timeout_minutes=0), "waiting time"),
        (replace(default, failed_answers_threshold=99), "Failed answers"),
        (replace(default, keywords=["x" * 101]), "100 characters"),
        (replace(default, business_hours=BusinessHours(timezone="Mars/Olympus")), "time zone"),
        (replace(default, business_hours=BusinessHours(days={0: [("18:00", "09:00")]},
                                                       always_open=False)), "end after"),
        (replace(default, business_hours=BusinessHours(days={0: [("9am", "6pm")]},
                                                       always_open=False)), "HH:MM"),
        (replace(default, business_hours=BusinessHours(always_open=False)), "at least one day"),
    ]
    for candidate, message in bad:
        with pytest.raises(ValidationFailed, match=message):
            await policy.update_policy(s.owner, s.bot.id, candidate)
    with pytest.raises(PermissionDenied):
        await policy.update_policy(s.anna, s.bot.id, default)
    with pytest.raises(NotFound):
        await policy.update_policy(s.owner, other.bot.id, default)
    with pytest.raises(NotFound):
        await policy.get_policy(s.anna, other.bot.id)

    wanted = replace(default, keywords=[" refund ", "refund", "chargeback"],
                     business_hours=WEEKDAYS_9_TO_6, on_timeout="back_to_ai",
                     accept_timeout_minutes=3)
    saved = await policy.update_policy(s.owner, s.bot.id, wanted)
    assert saved.keywords == ["refund", "chargeback"]
    assert await policy.get_policy(s.anna, s.bot.id) == saved
    assert await policy.get_policy(other.anna, other.bot.id) == HandoffPolicy()
    async with session_scope() as ss:
        [row] = list(await ss.exec(select(AuditLog).where(
            col(AuditLog.action) == "handoff_policy_updated")))
    assert (row.actor_user_id, row.target) == (s.owner.user_id, f"assistant:{s.bot.id}")


async def test_the_policy_triggers_on_phrases_keywords_and_weak_answers() -> None:
    p = replace(HandoffPolicy(), keywords=["refund"], failed_answers_threshold=3)
    assert (policy.trigger_for(p, "Позовите ОПЕРАТОРА, пожалуйста")
            == "visitor asked: “позовите оператора”")
    assert policy.trigger_for(p, "Can I talk to a   human?") == "visitor asked: “talk to a human”"
    assert policy.trigger_for(p, "Хочу поговорить с живым человеком") is not None
    assert policy.trigger_for(p, "I want a refund now") == "keyword: “refund”"
    assert policy.trigger_for(p, "The cooperator of the year") is None
    assert policy.trigger_for(p, "How long does delivery take?") is None
    assert policy.trigger_for(p, "", found_nothing=True) == policy.REASON_NO_ANSWER
    assert policy.trigger_for(p, "", answer_confidence=0.1) == policy.REASON_LOW_CONFIDENCE
    assert policy.trigger_for(p, "", answer_confidence=0.9) is None
    quiet = replace(p, on_low_confidence=False, on_no_answer=False)
    assert policy.trigger_for(quiet, "", answer_confidence=0.1, found_nothing=True,
                              failed_in_row=2) is None
    assert policy.trigger_for(quiet, "", failed_in_row=3) == "3 failed AI answers in a row"
    assert policy.trigger_for(replace(p, on_visitor_request=False), "operator please") is None
    assert policy.trigger_for(replace(p, enabled=False), "оператор", found_nothing=True) is None


def _asks(p: HandoffPolicy, text: str) -> str | None:
    return policy.trigger_for(p, text, intent=intent.detect(text))


async def test_indirect_and_frustrated_requests_hand_over_and_near_misses_do_not() -> None:
    p = HandoffPolicy()
    assert _asks(p, "is there someone who can actually fix this?") == (
        "visitor asked for a person: “is there someone who can”")
    assert (_asks(p, "есть кто живой?") or "").startswith("visitor asked for a person")
    assert (_asks(p, "Соедините с оператором") or "").startswith("visitor asked for a person")
    assert (_asks(p, "third time I ask and this bot is useless")
            or "").startswith("visitor is frustrated")
    assert (_asks(p, "Вы издеваетесь? Я пишу уже третий раз")
            or "").startswith("visitor is frustrated")
    for near_miss in ("How do I add a manager role to my team?",
                      "Как написать в поддержку из личного кабинета?",
                      "Can an operator of the site see my visitors' data?",
                      "Как сменить ответственного менеджера в проекте?",
                      "the chart is slow today"):
        assert _asks(p, near_miss) is None, near_miss


async def test_a_policy_saved_with_the_old_default_phrases_loads_todays() -> None:
    old = policy.to_json(HandoffPolicy())
    old["phrases_en"] = list(policy._LEGACY_DEFAULTS["phrases_en"])
    old["phrases_ru"] = list(policy._LEGACY_DEFAULTS["phrases_ru"])
    loaded = policy.from_json(old)
    assert "operator" not in loaded.phrases_en and "менеджер" not in loaded.phrases_ru
    assert _asks(loaded, "Как сменить ответственного менеджера в проекте?") is None
    edited = {**old, "phrases_en": ["operator"]}  # a tenant's own choice stays
    assert policy.from_json(edited).phrases_en == ["operator"]


async def test_business_hours_follow_the_time_zone() -> None:
    assert policy.is_open(WEEKDAYS_9_TO_6, MONDAY_NOON_MSK)
    assert not policy.is_open(WEEKDAYS_9_TO_6, SUNDAY)
    assert not policy.is_open(WEEKDAYS_9_TO_6, MONDAY_NOON_MSK + timedelta(hours=6))  # 18:00
    assert policy.is_open(WEEKDAYS_9_TO_6, MONDAY_NOON_MSK - timedelta(hours=3))  # 09:00
    assert policy.is_open(BusinessHours(), SUNDAY)


async def test_outside_business_hours_the_visitor_gets_the_offline_message_and_a_contact_form(
    clean: None
) -> None:
    s = await shop(language="ru")
    assert s.bot.id is not None
    await policy.update_policy(s.owner, s.bot.id,
                               replace(HandoffPolicy(), business_hours=WEEKDAYS_9_TO_6))
    d = (await dialogs.visitor_message(s.visitor, "Есть кто живой?", "c-1")).dialog.id

    result = await handoff.request(d, s.owner.workspace_id, reason="visitor asked",
                                   by="visitor", now=SUNDAY)

    assert result.outcome == "offline"
    assert (result.dialog.status, result.dialog.awaiting_contact) == ("requested", True)
    assert result.message is not None
    assert result.message.content == policy.DEFAULT_OFFLINE_RU
    # Already told: the no-operator timeout does not fire for this wait.
    assert await handoff.expire_waiting(now=SUNDAY + timedelta(hours=5)) == 0
    # In the queue for the morning, with how the visitor can be reached.
    await dialogs.leave_contact(s.visitor, d, "Ира", "ira@example.com")
    [queued] = await dialogs.search(s.anna, dialogs.DialogFilter(scope="queue"))
    assert (queued.id, queued.contact_email, queued.awaiting_contact) == (
        d, "ira@example.com", False)


async def test_outside_business_hours_the_ai_carries_on_when_the_policy_says_so(
    clean: None
) -> None:
    s = await shop()
    assert s.bot.id is not None
    await policy.update_policy(s.owner, s.bot.id, replace(
        HandoffPolicy(), business_hours=WEEKDAYS_9_TO_6, on_timeout="back_to_ai"))
    d = (await dialogs.visitor_message(s.visitor, "anyone?", "c-1")).dialog.id

    asked = await handoff.request(d, s.owner.workspace_id, reason="visitor asked",
                                  by="visitor", now=SUNDAY)
    unsure = await handoff.request(d, s.owner.workspace_id, reason="the AI was not sure",
                                   by="system", now=SUNDAY)

    assert asked.outcome == unsure.outcome == "stay_ai"
    assert asked.dialog.status == "ai" and asked.message is not None
    assert asked.message.content.startswith("No one from our team is available right now.")
    assert unsure.message is None  # system triggers stay quiet: no repeated notices
    assert [t.reason for t in await handoff.transitions(s.anna, d)] == [
        "outside business hours; visitor asked"
    ]
    open_hours = await handoff.request(d, s.owner.workspace_id, reason="visitor asked",
                                       by="visitor", now=MONDAY_NOON_MSK)
    assert open_hours.outcome == "queued"


async def test_a_disabled_policy_never_queues_and_tells_a_visitor_who_asks(clean: None) -> None:
    s = await shop()
    assert s.bot.id is not None
    await policy.update_policy(s.owner, s.bot.id, replace(HandoffPolicy(), enabled=False))
    d = (await dialogs.visitor_message(s.visitor, "human please", "c-1")).dialog.id

    by_system = await handoff.request(d, s.owner.workspace_id, reason="x", by="system")
    by_visitor = await handoff.request(d, s.owner.workspace_id, reason="x", by="visitor")

    assert by_system.outcome == by_visitor.outcome == "disabled"
    assert by_system.message is None and by_visitor.message is not None
    assert by_visitor.dialog.status == "ai"
    assert await handoff.transitions(s.anna, d) == []
    assert await dialogs.search(s.anna, dialogs.DialogFilter(scope="queue")) == []


# ------------------------------------------------------------------------ no-operator timeout


async def test_nobody_accepting_in_time_sends_the_offline_message_once(clean: None) -> None:
    s = await shop()
    assert s.bot.id is not None
    await policy.update_policy(s.owner, s.bot.id, replace(HandoffPolicy(),
                                                          accept_timeout_minutes=3))
    d = await _waiting(s.visitor)
    asked = (await dialogs.get_dialog(s.anna, d)).handoff_requested_at
    assert asked is not None

    assert await handoff.expire_waiting(now=asked + timedelta(minutes=2)) == 0
    assert await handoff.expire_waiting(now=asked + timedelta(minutes=3, seconds=1)) == 1
    assert await handoff.expire_waiting(now=asked + timedelta(minutes=30)) == 0

    view = await dialogs.get_dialog(s.anna, d)
    assert (view.status, view.awaiting_contact) == ("requested", True)  # still in the queue
    assert (await dialogs.history(s.visitor, d))[-1].content == policy.DEFAULT_OFFLINE_EN
    last = (await handoff.transitions(s.anna, d))[-1]
    assert (last.actor, last.reason) == (
        "system", "nobody accepted within 3 min; offline message sent")
    # A person can still pick it up later.
    assert (await handoff.accept(s.boris, d)).awaiting_contact is False


async def test_nobody_accepting_in_time_hands_back_to_the_ai_when_the_policy_says_so(
    clean: None
) -> None:
    s = await shop()
    other = await shop("b")  # another tenant's waiting visitor keeps its own (default) timeout
    assert s.bot.id is not None
    await policy.update_policy(s.owner, s.bot.id, replace(
        HandoffPolicy(), accept_timeout_minutes=2, on_timeout="back_to_ai"))
    d = await _waiting(s.visitor)
    theirs = await _waiting(other.visitor)
    asked = (await dialogs.get_dialog(s.anna, d)).handoff_requested_at
    assert asked is not None

    assert await handoff.expire_waiting(now=asked + timedelta(minutes=3)) == 1

    view = await dialogs.get_dialog(s.anna, d)
    assert (view.status, view.awaiting_contact) == ("ai", False)
    assert (await dialogs.history(s.visitor, d))[-1].content.startswith(
        "No one from our team is available right now.")
    last = (await handoff.transitions(s.anna, d))[-1]
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        "requested", "ai", "system", "nobody accepted within 2 min")
    assert (await dialogs.get_dialog(other.anna, theirs)).status == "requested"
    assert await handoff.expire_waiting(now=asked + timedelta(minutes=6)) == 1  # theirs: 5 min


def test_the_timeout_runs_every_minute_as_a_periodic_job(services: dict[str, str]) -> None:
    app = load_tasks()
    periodic = {key: task for key, task in app.periodic_registry.periodic_tasks.items()}
    task = periodic[("conversations:expire_waiting", "expire-waiting")]
    assert task.cron == "* * * * *"


# ------------------------------------------------------------------------ SLA


async def test_sla_measures_time_from_request_to_first_human_reply(clean: None) -> None:
    s = await shop()
    now = datetime.now(UTC)
    for n, waited in enumerate((60, 120, 300)):
        other = await visitor(s.bot, f"sla-{n}")
        d = (await dialogs.visitor_message(other, "help", "c-1")).dialog.id
        await handoff.request(d, s.owner.workspace_id, reason="asked", by="visitor",
                              now=now - timedelta(seconds=waited))
        await handoff.accept(s.anna, d)
        await dialogs.operator_reply(s.anna, d, "Hi, I'm here", "r-1")
        await dialogs.operator_reply(s.anna, d, "second reply does not count", "r-2")
    proactive = (await dialogs.visitor_message(s.visitor, "hm", "c-1")).dialog.id
    await handoff.accept(s.boris, proactive)
    await dialogs.operator_reply(s.boris, proactive, "Can I help?", "r-1")
    waiting = await visitor(s.bot, "still-waiting")
    await _waiting(waiting)
    stranger = await shop("b")
    await _waiting(stranger.visitor)

    sla = await handoff.sla_summary(s.anna, since=now - timedelta(hours=1))

    assert sla.handled == 4 and sla.waiting_now == 1
    assert sla.median_first_reply_seconds is not None and sla.p90_first_reply_seconds is not None
    # percentile_cont over 60, 120, 300 s (plus the few moments the test itself took)
    assert 120 <= sla.median_first_reply_seconds < 130
    assert 264 <= sla.p90_first_reply_seconds < 274
    later = await handoff.sla_summary(s.anna, since=datetime.now(UTC) + timedelta(hours=1))
    assert (later.handled, later.median_first_reply_seconds, later.waiting_now) == (0, None, 1)
    assert (await dialogs.get_dialog(s.anna, proactive)).first_human_reply_at is not None
