"""Notifications through a real SMTP server: a waiting visitor reaches the workspace's
people once per throttle window (the rest as a digest) and only while nobody is online;
a contact left offline and a wait past the timeout; the balance; the weekly summary;
choices per person and language; SMTP failures retried without loss or doubling; and
nobody hears of another workspace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from backend_services.analytics import rollup
from backend_services.billing import adjustments, ledger, tariffs
from backend_services.billing.ledger import Kind
from backend_services.conversations import dialogs, handoff, presence, turns
from backend_services.core.db import session_scope
from backend_services.core.errors import ValidationFailed
from backend_services.notifications import preferences, weekly
from backend_services.notifications.catalogue import EVENTS
from backend_services.notifications.render import LANGUAGES, render
from backend_services.notifications.service import run_once
from tests.integration.conversation_helpers import Shop, shop, visitor
from tests.support.analytics_seed import ask, backdate
from tests.support.smtp_server import SmtpTestServer

TEMPLATES = Path(__file__).resolve().parents[2] / "backend_services" / "notifications" / \
    "templates"


async def _wait(s: Shop, external_id: str, question: str) -> int:
    """A visitor asks something and then for a person; the dialog id."""
    who = await visitor(s.bot, external_id)
    start = await turns.handle_visitor_message(who, question, None)
    await turns.request_human(who, start.posted.dialog.id)
    return start.posted.dialog.id


async def _mail(smtp: SmtpTestServer, to: str, subject: str) -> str:
    return (await asyncio.to_thread(smtp.wait_for, to, subject)).text


async def _outcomes(event: str) -> list[str]:
    async with session_scope() as session:
        return [r[0] for r in await session.exec(text(  # type: ignore[call-overload]
            "SELECT outcome FROM notification_requests WHERE event = :e ORDER BY id"),
            params={"e": event})]


def test_every_event_has_a_template_in_both_languages_that_escapes_visitors_words() -> None:
    context = {"workspace": "Shop & Co", "name": "Anna", "base_url": "http://x",
               "settings_url": "http://x/settings", "billing_url": "http://x/billing",
               "console_url": "http://x/console", "analytics_url": "http://x/analytics",
               "dialog_url": "http://x/console?d=1", "preview": "<script>alert(1)</script>",
               "reason": "visitor asked", "contact_name": "Ivan", "contact_email": "i@x.ru",
               "minutes": 5, "balance": "1.00 USD", "threshold": "5.00 USD",
               "amount": "10.00 USD", "method": "T-Bank", "receipt_url": "http://x/r",
               "period": "2026-11-30 – 2026-12-06",
               "figures": {k: {"value": "1", "before": "2"} for k in weekly.KEYS},
               "items": [{"preview": "<b>hi</b>", "reason": "r", "dialog_url": "http://x/1"}]}
    for name in [*EVENTS, "digest"]:
        subjects = set()
        for language in LANGUAGES:
            assert (TEMPLATES / f"{name}.{language}.j2").exists(), (name, language)
            mail = render(name, language, context)
            assert mail.subject and "\n" not in mail.subject
            assert "&lt;" not in mail.text and "&amp;" not in mail.text  # plain text is plain
            assert "<script>" not in mail.html and "<b>hi</b>" not in mail.html
            assert "http://x/settings" in mail.html
            subjects.add(mail.subject)
        assert len(subjects) == 2, name  # really translated
    ru = render("waiting", "ru", context)
    assert "Посетитель" in ru.subject and "Shop & Co" in ru.text


async def test_a_waiting_visitor_is_told_once_per_window_and_the_rest_come_as_a_digest(
    clean: None, smtp: SmtpTestServer
) -> None:
    a, b = await shop("a"), await shop("b")
    smtp.forget()
    await preferences.set_preferences(a.boris, "en", {"waiting": False})
    await preferences.set_preferences(a.owner, "ru", {})

    first = await _wait(a, "v1", "My parcel is lost")
    await run_once(with_weekly=False)
    anna = await _mail(smtp, "anna-a@example.com", "A visitor is waiting")
    assert "My parcel is lost" in anna and f"/console?d={first}" in anna
    owner = await _mail(smtp, "owner-a@example.com", "Посетитель ждёт оператора")
    assert "My parcel is lost" in owner

    # Two more within the window: held, then one digest when it ends.
    await _wait(a, "v2", "Where is my refund?")
    await _wait(a, "v3", "Can I change the address?")
    await run_once(with_weekly=False)
    assert smtp.count_to("anna-a@example.com") == 1
    await run_once(datetime.now(UTC) + timedelta(minutes=11), with_weekly=False)
    digest = await _mail(smtp, "anna-a@example.com", "2 visitors are waiting")
    assert "Where is my refund?" in digest and "Can I change the address?" in digest
    assert smtp.count_to("anna-a@example.com") == 2
    await run_once(datetime.now(UTC) + timedelta(minutes=30), with_weekly=False)
    assert smtp.count_to("anna-a@example.com") == 2  # nothing sent twice
    assert smtp.count_to("boris-a@example.com") == 0  # turned it off
    assert smtp.count_to("owner-b@example.com") == 0  # another workspace hears nothing
    assert smtp.count_to("anna-b@example.com") == 0
    assert b.bot.id is not None


async def test_nobody_is_mailed_while_an_operator_is_online(
    clean: None, smtp: SmtpTestServer
) -> None:
    a = await shop("a")
    smtp.forget()
    await presence.set_status(a.anna, "online")
    await _wait(a, "v1", "Hello, I need help with my order")
    await run_once(with_weekly=False)
    assert await _outcomes("waiting") == ["an operator was online"]
    async with session_scope() as session:
        assert (await session.exec(text(  # type: ignore[call-overload]
            "SELECT count(*) FROM notification_deliveries"))).one()[0] == 0


async def test_a_contact_left_offline_and_a_wait_past_the_timeout_are_told_once(
    clean: None, smtp: SmtpTestServer
) -> None:
    a = await shop("a")
    smtp.forget()
    who = await visitor(a.bot, "v1")
    start = await turns.handle_visitor_message(who, "Do you ship to Kazan?", None)
    dialog_id = start.posted.dialog.id
    await turns.request_human(who, dialog_id)
    later = datetime.now(UTC) + timedelta(minutes=6)  # past the 5-minute default timeout
    assert await handoff.expire_waiting(later) == 1
    assert await handoff.expire_waiting(later + timedelta(minutes=5)) == 0
    await dialogs.leave_contact(who, dialog_id, "Ivan Petrov", "ivan@example.com")
    await run_once(later, with_weekly=False)
    sla = await _mail(smtp, "anna-a@example.com", "has waited 5 minutes")
    assert "Do you ship to Kazan?" in sla
    contact = await _mail(smtp, "owner-a@example.com", "Ivan Petrov left their contact")
    assert "ivan@example.com" in contact and f"/console?d={dialog_id}" in contact
    await run_once(later + timedelta(hours=1), with_weekly=False)
    assert await _outcomes("sla") == ["3 to tell"]  # owner, Anna, Boris; once


async def test_the_balance_crossing_reaches_owners_and_admins_only(
    clean: None, smtp: SmtpTestServer
) -> None:
    s = await shop("a", platform_admin=True)
    smtp.forget()
    ws = s.owner.workspace_id
    await tariffs.set_tariff(s.owner, answer_flat_minor=10, low_balance_minor=100)
    await adjustments.adjust(s.owner, ws, 150, "starting credit")
    for i, amount in enumerate((-60, -10, -200)):  # under the line, again, then spent
        async with session_scope() as session:
            await ledger.post(session, ws, amount, Kind.ANSWER, f"k{i}", low_threshold_minor=100)
    await run_once(with_weekly=False)
    low = await _mail(smtp, "owner-a@example.com", "running low")
    assert "0.90 USD" in low and "1.00 USD" in low and "/billing" in low
    spent = await _mail(smtp, "owner-a@example.com", "spent")
    assert "operators" in spent
    assert await _outcomes("balance_low") == ["1 to tell"]  # the owner; told once
    assert smtp.count_to("anna-a@example.com") == 0  # operators are not told about money


async def test_an_smtp_failure_is_retried_and_the_mail_arrives_once(
    clean: None, smtp: SmtpTestServer
) -> None:
    a = await shop("a")
    smtp.forget()
    await preferences.set_preferences(a.boris, "en", {"waiting": False})
    await preferences.set_preferences(a.owner, "en", {"waiting": False})
    smtp.set_refusing(True)
    try:
        await _wait(a, "v1", "Is anyone there?")
        await run_once(with_weekly=False)
        async with session_scope() as session:
            status, attempts, error = (await session.exec(text(  # type: ignore[call-overload]
                "SELECT status, attempts, error FROM notification_deliveries"))).one()
        assert (status, attempts) == ("pending", 1) and "could not send" in error
    finally:
        smtp.set_refusing(False)
    await run_once(datetime.now(UTC) + timedelta(minutes=2), with_weekly=False)
    await _mail(smtp, "anna-a@example.com", "A visitor is waiting")
    await run_once(datetime.now(UTC) + timedelta(hours=2), with_weekly=False)
    assert smtp.count_to("anna-a@example.com") == 1


async def test_the_weekly_summary_goes_once_to_owners_and_admins(
    clean: None, smtp: SmtpTestServer
) -> None:
    a = await shop("a")
    smtp.forget()
    today = datetime.now(UTC)
    monday = (today - timedelta(days=today.weekday())).replace(hour=7, minute=0, second=0,
                                                               microsecond=0)
    dialog_id = await ask(a.visitor, "Where is my order?")
    await backdate(dialog_id, monday - timedelta(days=5), 3)  # last Wednesday
    await rollup.refresh(from_scratch=True)
    assert await weekly.request_weekly(monday - timedelta(hours=2)) == 0  # before 06:00
    assert await weekly.request_weekly(monday) == 1
    assert await weekly.request_weekly(monday + timedelta(days=2)) == 1  # asked again…
    await run_once(with_weekly=False)
    summary = await _mail(smtp, "owner-a@example.com", "the week")
    assert "Conversations: 1 (before: 0)" in summary
    assert "AI first response (median): 3 s" in summary
    assert await _outcomes("weekly") == ["1 to tell"]  # …but written once
    assert smtp.count_to("anna-a@example.com", "the week") == 0


async def test_people_choose_for_themselves_and_only_what_their_role_may_hear(
    clean: None
) -> None:
    a = await shop("a")
    mine = await preferences.preferences(a.anna)
    assert {p.event for p in mine.events} == {"waiting", "sla", "contact"}
    assert all(p.email for p in mine.events) and mine.language == "en"
    with pytest.raises(ValidationFailed):
        await preferences.set_preferences(a.anna, "en", {"balance_low": True})
    with pytest.raises(ValidationFailed):
        await preferences.set_preferences(a.anna, "de", {})
    changed = await preferences.set_preferences(a.anna, "ru", {"contact": False})
    assert changed.language == "ru"
    assert {p.event: p.email for p in changed.events}["contact"] is False
    # Boris, in the same workspace, keeps his own.
    assert all(p.email for p in (await preferences.preferences(a.boris)).events)
