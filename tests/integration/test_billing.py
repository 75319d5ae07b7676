"""Money: the price sheet and its history, charges written with the usage they pay for,
once, never below zero whatever the concurrency, the hard stop at zero and its end, admin
adjustments, and the ledger each workspace sees of its own (and only its own).

Real PostgreSQL, Valkey, ingestion worker and local embedder; answers in extractive mode.
"""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from backend_services.billing import adjustments, charges, ledger, notices, reports, tariffs
from backend_services.billing.ledger import Kind
from backend_services.conversations import dialogs, handoff, turns
from backend_services.conversations.dialogs import DialogFilter
from backend_services.conversations.turns import AiReplyDone
from backend_services.core.db import session_scope
from backend_services.core.errors import BalanceSpent, PermissionDenied, ValidationFailed
from backend_services.identity import my_workspaces
from backend_services.knowledge import ingest, sources
from backend_services.models import AuditLog, Dialog, LedgerEntry, Message
from backend_services.notifications import service as notifications
from tests.integration.conversation_helpers import Shop, ingested, shop, visitor
from tests.support.balances import balance
from tests.support.smtp_server import SmtpTestServer

HELP = b"""# Shop help

## Refunds

Refunds are issued within 14 days of the request, to the card used for the purchase.

## Delivery

Orders ship from our Berlin warehouse. Delivery within Germany takes two business days.
"""



async def _entries(workspace_id: int) -> list[LedgerEntry]:
    async with session_scope() as session:
        return list(await session.exec(select(LedgerEntry).where(
            col(LedgerEntry.workspace_id) == workspace_id).order_by(col(LedgerEntry.id))))


async def _answer(s: Shop, text: str, cid: str) -> turns.TurnStart:
    start = await turns.handle_visitor_message(s.visitor, text, cid)
    if start.ai_should_answer:
        async for item in turns.stream_ai_reply(s.visitor, start.posted.dialog.id,
                                                start.posted.message.id):
            if isinstance(item, AiReplyDone):
                break
    return start


async def test_a_price_scheduled_for_tomorrow_does_not_apply_today(clean: None) -> None:
    s = await shop("a", platform_admin=True)
    today = await tariffs.set_tariff(s.owner, answer_flat_minor=10, page_minor=3)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    later = await tariffs.set_tariff(s.owner, answer_flat_minor=99, effective_from=tomorrow)

    assert (await tariffs.current()).id == today.id
    async with session_scope() as session:
        then = await tariffs.in_force(session, tomorrow + timedelta(hours=1))
    assert then.id == later.id and then.answer_flat_minor == 99
    assert [t.id for t in await tariffs.history(s.owner)] == [later.id, today.id]

    # A sheet in force is history and stays; a scheduled one can be withdrawn.
    with pytest.raises(ValidationFailed):
        await tariffs.cancel_scheduled(s.owner, today.id)
    with pytest.raises(ValidationFailed):
        await tariffs.set_tariff(s.owner, effective_from=datetime.now(UTC) - timedelta(days=1))
    await tariffs.cancel_scheduled(s.owner, later.id)
    assert [t.id for t in await tariffs.history(s.owner)] == [today.id]

    # Only platform admins set prices; a tenant's owner cannot, nor read the history.
    tenant = await shop("b")
    with pytest.raises(PermissionDenied):
        await tariffs.set_tariff(tenant.owner, answer_flat_minor=0)
    with pytest.raises(PermissionDenied):
        await tariffs.history(tenant.owner)


async def test_a_new_workspace_starts_with_the_welcome_bonus(clean: None) -> None:
    admin = await shop("a", platform_admin=True)
    assert await balance(admin.owner.workspace_id) == 0  # no sheet yet: no bonus
    await tariffs.set_tariff(admin.owner, welcome_bonus_minor=5_000)

    newcomer = await shop("b")
    assert await balance(newcomer.owner.workspace_id) == 5_000
    [entry] = await _entries(newcomer.owner.workspace_id)
    assert (entry.kind, entry.amount_minor, entry.balance_after_minor) == ("welcome", 5_000,
                                                                          5_000)
    # A further workspace of the same person starts at zero: the bonus comes once.
    further = await my_workspaces.create(newcomer.owner, "Shop b, second")
    assert await balance(further) == 0


async def test_a_thousand_concurrent_charges_never_take_the_balance_below_zero(
    clean: None
) -> None:
    s = await shop("a", platform_admin=True)
    ws = s.owner.workspace_id
    await adjustments.adjust(s.owner, ws, 5_000, "opening balance for the test")

    async def charger(task: int) -> int:
        applied = 0
        for i in range(50):
            async with session_scope() as session:
                # Every tenth key is one another task also posts: charged once in all.
                key = f"shared:{i}" if i % 10 == 0 else f"t{task}:{i}"
                posted = await ledger.post(session, ws, -7, Kind.ANSWER, key)
            applied += 0 if posted.duplicate else posted.amount_minor
        return applied

    applied = await asyncio.gather(*(charger(t) for t in range(20)))
    entries = await _entries(ws)
    left = await balance(ws)

    # 1,000 posts, of which 5 keys were posted by all 20 tasks: 905 distinct charges.
    assert len(entries) == 1 + 905
    assert len({e.idempotency_key for e in entries}) == len(entries)
    # 905 × 7 = 6,335 asked of 5,000: the balance reached zero and stayed there.
    assert left == 0
    assert sum(e.amount_minor for e in entries) == left
    assert 5_000 + sum(applied) == left
    running = 0
    for e in entries:  # applied one at a time: each entry's "after" is the running sum
        running += e.amount_minor
        assert e.balance_after_minor == running >= 0
    assert all(-7 <= e.amount_minor <= 0 for e in entries[1:])


async def test_an_answer_is_charged_once_with_the_dialog_it_paid_for(
    clean: None, worker: None
) -> None:
    s = await shop("a", platform_admin=True)
    assert s.bot.id is not None
    await ingested(s.owner, s.bot.id, "help.md", HELP)
    await tariffs.set_tariff(s.owner, answer_flat_minor=25, widget_message_minor=5)
    await adjustments.adjust(s.owner, s.owner.workspace_id, 1_000, "credit for the test")

    start = await _answer(s, "How long do refunds take?", "c-1")
    [_, charge] = await _entries(s.owner.workspace_id)
    async with session_scope() as session:
        answer = (await session.exec(select(Message).where(
            col(Message.dialog_id) == start.posted.dialog.id,
            col(Message.sender) == "ai"))).one()
    assert (charge.kind, charge.amount_minor, charge.balance_after_minor) == ("answer", -30,
                                                                               970)
    assert (charge.dialog_id, charge.message_id) == (start.posted.dialog.id, answer.id)
    assert charge.details is not None and charge.details["mode"] == "extractive"

    # Answering the same question again (a retry, a second worker) replays; no charge.
    async for _ in turns.stream_ai_reply(s.visitor, start.posted.dialog.id,
                                         start.posted.message.id):
        pass
    assert len(await _entries(s.owner.workspace_id)) == 2
    assert await balance(s.owner.workspace_id) == 970


async def test_a_telegram_answer_pays_the_telegram_message_price(
    clean: None, worker: None
) -> None:
    s = await shop("a", platform_admin=True)
    assert s.bot.id is not None
    await ingested(s.owner, s.bot.id, "help.md", HELP)
    await tariffs.set_tariff(s.owner, answer_flat_minor=25, widget_message_minor=5,
                             telegram_message_minor=9)
    await adjustments.adjust(s.owner, s.owner.workspace_id, 1_000, "credit for the test")
    s.visitor = await visitor(s.bot, "tg-user-1", kind="telegram")

    await _answer(s, "How long do refunds take?", "tg:1:1")
    charge = (await _entries(s.owner.workspace_id))[-1]
    assert (charge.amount_minor, charge.reference) == (-34, "telegram answer")
    assert charge.details is not None and charge.details["channel"] == "telegram"


async def test_at_zero_the_ai_stops_the_visitor_is_told_and_a_payment_resumes_it(
    clean: None, worker: None
) -> None:
    s = await shop("a", platform_admin=True)
    assert s.bot.id is not None
    await ingested(s.owner, s.bot.id, "help.md", HELP)
    await tariffs.set_tariff(s.owner, answer_flat_minor=30, page_minor=1)
    await adjustments.adjust(s.owner, s.owner.workspace_id, 20, "a little credit")
    # Indexing took its pages before: what is left pays less than one answer.
    left = await balance(s.owner.workspace_id)
    assert 0 < left < 30

    # The last answer takes what is left (the rest is waived, never a negative balance)…
    await _answer(s, "How long do refunds take?", "c-1")
    assert await balance(s.owner.workspace_id) == 0
    last = (await _entries(s.owner.workspace_id))[-1]
    assert (last.amount_minor, last.requested_minor) == (-left, -30)

    # …and the next question goes to the operators with a polite notice, unanswered.
    start = await turns.handle_visitor_message(s.visitor, "And delivery?", "c-2")
    assert not start.ai_should_answer
    async with session_scope() as session:
        dialog = await session.get(Dialog, start.posted.dialog.id)
        said = [m.content for m in (await session.exec(select(Message).where(
            col(Message.dialog_id) == start.posted.dialog.id).order_by(col(Message.id))))]
    assert dialog is not None and dialog.status == "requested"
    assert "balance" in dialog.handoff_reason
    assert any("not available at the moment" in t for t in said)
    # It is in the operators' queue, and they keep working at zero.
    queue = await dialogs.search(s.anna, DialogFilter(scope="queue"))
    assert [d.id for d in queue] == [start.posted.dialog.id]
    await handoff.accept(s.anna, start.posted.dialog.id)
    reply = await dialogs.operator_reply(s.anna, start.posted.dialog.id,
                                         "Delivery takes two days.", "op-1")
    assert reply.content == "Delivery takes two days."
    assert await balance(s.owner.workspace_id) == 0
    # New knowledge is refused with a clear message; what is indexed stays.
    with pytest.raises(BalanceSpent, match="top up"):
        await sources.add_file(s.owner, s.bot.id, "more.md", b"# More\n\nMore text here.")
    assert (await notices.banner(s.owner)).state == "zero"

    # A credit lands: the next visitor is answered by the AI again.
    await adjustments.adjust(s.owner, s.owner.workspace_id, 1_000, "paid by bank transfer")
    other = await visitor(s.bot, "visitor-2")
    again = await turns.handle_visitor_message(other, "How long do refunds take?", "c-3")
    assert again.ai_should_answer
    assert (await notices.banner(s.owner)).state == ""


async def test_a_russian_visitor_is_told_in_russian_at_zero(clean: None) -> None:
    s = await shop("a", "ru", platform_admin=True)
    await tariffs.set_tariff(s.owner, answer_flat_minor=30)
    start = await turns.handle_visitor_message(s.visitor, "Сколько идёт доставка?", "c-1")
    assert not start.ai_should_answer
    async with session_scope() as session:
        said = [m.content for m in await session.exec(select(Message).where(
            col(Message.dialog_id) == start.posted.dialog.id, col(Message.sender) == "system"))]
    assert any("Ассистент сейчас недоступен" in t for t in said)


async def test_a_free_install_never_stops_at_zero(clean: None) -> None:
    s = await shop("a")
    start = await turns.handle_visitor_message(s.visitor, "Hello there", "c-1")
    assert start.ai_should_answer and await balance(s.owner.workspace_id) == 0


async def test_a_document_is_charged_per_page_once_per_text(clean: None, worker: None) -> None:
    s = await shop("a", platform_admin=True)
    assert s.bot.id is not None
    await tariffs.set_tariff(s.owner, page_minor=4)
    await adjustments.adjust(s.owner, s.owner.workspace_id, 500, "credit for the test")
    long_text = b"# Guide\n\n" + b"".join(
        f"Paragraph {i} explains step {i} of the set-up in plain words for visitors.\n\n"
        .encode() for i in range(120))
    document_id = await ingested(s.owner, s.bot.id, "guide.md", long_text)
    [_, charge] = await _entries(s.owner.workspace_id)
    assert charge.document_id == document_id and charge.kind == "document"
    assert charge.details is not None
    pages = charge.details["pages"]
    assert pages == charges.pages_of(charge.details["tokens"]) and pages >= 2
    assert charge.amount_minor == -4 * pages

    # The job runs again for the same text (a retry, a re-index): nothing more is charged.
    assert await ingest.run_ingestion(document_id) == "ready"
    assert len(await _entries(s.owner.workspace_id)) == 2
    page = await reports.entries(s.owner)
    assert page.entries[0].document_title == "guide.md"


async def test_adjustments_need_a_platform_admin_and_a_reason_and_are_audited(
    clean: None
) -> None:
    admin = await shop("a", platform_admin=True)
    tenant = await shop("b")
    ws = tenant.owner.workspace_id
    with pytest.raises(PermissionDenied):  # a tenant cannot top itself up
        await adjustments.adjust(tenant.owner, ws, 10_000, "I would like more money")
    with pytest.raises(ValidationFailed):
        await adjustments.adjust(admin.owner, ws, 100, "")
    await adjustments.adjust(admin.owner, ws, 1_500, "compensation for the outage")
    await adjustments.adjust(admin.owner, ws, -9_999, "charged back by the bank")
    assert await balance(ws) == 0  # a take-away stops at zero

    page = await reports.entries(tenant.owner)
    assert [(e.kind, e.amount_minor, e.reference) for e in page.entries] == [
        ("adjustment", -1_500, "charged back by the bank"),
        ("adjustment", 1_500, "compensation for the outage")]
    async with session_scope() as session:
        audits = list(await session.exec(select(AuditLog).where(
            col(AuditLog.action) == "balance_adjusted", col(AuditLog.workspace_id) == ws)))
    assert len(audits) == 2 and audits[0].actor_user_id == admin.owner.user_id
    listed = {b.workspace_id: b for b in await adjustments.balances(admin.owner)}
    assert listed[ws].balance_minor == 0 and listed[ws].name == "Shop b"


async def test_each_workspace_sees_only_its_own_ledger_and_the_csv_matches_the_page(
    clean: None
) -> None:
    admin = await shop("a", platform_admin=True)
    other = await shop("b")
    for i in range(30):
        async with session_scope() as session:
            await ledger.post(session, admin.owner.workspace_id, 100, Kind.PAYMENT, f"p{i}",
                              reference=f"payment {i}")
    await adjustments.adjust(admin.owner, other.owner.workspace_id, 7, "their only entry")

    mine = await reports.entries(admin.owner, page=1)
    assert (mine.total, mine.pages, len(mine.entries)) == (30, 2, 25)
    second = await reports.entries(admin.owner, page=2)
    assert [e.reference for e in second.entries] == [f"payment {i}" for i in range(4, -1, -1)]
    theirs = await reports.entries(other.owner)
    assert [e.reference for e in theirs.entries] == ["their only entry"]
    assert "payment" not in await reports.csv_text(other.owner)

    rows = list(csv.reader(io.StringIO(await reports.csv_text(admin.owner))))
    assert tuple(rows[0]) == reports.CSV_HEADER and len(rows) == 31
    shown = mine.entries + second.entries
    assert [(int(r[0]), r[3], r[6]) for r in rows[1:]] == [
        (e.id, f"{e.amount_minor / 100:.2f}", e.reference) for e in shown]
    only = await reports.entries(admin.owner, reports.Filters(kind="adjustment"))
    assert only.total == 0
    with pytest.raises(ValidationFailed):
        await reports.entries(admin.owner, reports.Filters(kind="gift"))
    # An operator of the workspace does not see its money.
    with pytest.raises(PermissionDenied):
        await reports.entries(admin.anna)


async def test_low_balance_is_told_once_per_crossing(
    clean: None, worker: None, smtp: SmtpTestServer
) -> None:
    s = await shop("a", platform_admin=True)
    ws = s.owner.workspace_id
    await tariffs.set_tariff(s.owner, answer_flat_minor=10, low_balance_minor=100)
    await adjustments.adjust(s.owner, ws, 150, "starting credit")

    crossings = []
    for i, amount in enumerate((-60, -10, 15, -5, 200, -200, -200)):
        if amount > 0:  # a credit, as an admin or a payment makes it: no threshold given
            posted = await adjustments.adjust(s.owner, ws, amount, "credit for the test")
        else:
            async with session_scope() as session:
                posted = await ledger.post(session, ws, amount, Kind.ANSWER, f"k{i}",
                                           low_threshold_minor=100)
        assert posted is not None
        crossings.append((posted.crossed_low, posted.reached_zero))
    # 150 → 90 (crossed) → 80 → 95 (still under: not re-armed) → 90 (not told again)
    # → 290 (re-armed) → 90 (crossed again) → 0 (zero)
    assert crossings == [(True, False), (False, False), (False, False), (False, False),
                         (False, False), (True, False), (False, True)]
    await notifications.run_once(with_weekly=False)  # what the jobs process does
    mail = await asyncio.to_thread(smtp.wait_for, "owner-a@example.com", "spent")
    assert "/billing" in mail.text and "operators" in mail.text
    assert (await notices.banner(s.owner)).state == "zero"
    assert (await notices.banner(s.anna)).state == ""  # operators are not shown money


async def test_what_an_answer_costs_by_kind_and_the_test_chat_pays_tokens_only(
    clean: None
) -> None:
    s = await shop("a", platform_admin=True)
    sheet = await tariffs.set_tariff(s.owner, answer_flat_minor=25, token_markup_percent=150,
                                     widget_message_minor=5)
    # 2.000001 minor units of model cost × 150 % = 3.0000015 → 4 (rounded up).
    assert charges.answer_price(sheet, mode="llm", cost_micro=2_000_001,
                                channel_kind="widget") == 25 + 5 + 4
    # "I don't know" and small talk pay only their tokens (none in extractive mode).
    assert charges.answer_price(sheet, mode="unknown", cost_micro=0,
                                channel_kind="widget") == 5
    assert charges.answer_price(sheet, mode="smalltalk", cost_micro=0,
                                channel_kind="telegram") == 0

    await adjustments.adjust(s.owner, s.owner.workspace_id, 100, "credit for the test")
    await charges.charge_test_chat(s.owner.workspace_id, charges.AnswerUsage(
        "llm", 2_000_001, "USD", "gpt-x", 900, 100))
    await charges.charge_test_chat(s.owner.workspace_id, charges.AnswerUsage(
        "extractive", 0, "", "", 0, 0))
    entries = await _entries(s.owner.workspace_id)
    assert [(e.kind, e.amount_minor, e.reference) for e in entries[1:]] == [
        ("answer", -4, "test chat")]
