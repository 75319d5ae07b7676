"""Conversation analytics of a workspace: conversations and messages per day, the AI alone
vs handed to a person and why, satisfaction against the AI and against people apart —
and nothing of another workspace."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend_services.analytics.conversations import Filters, summary
from backend_services.conversations import dialogs, handoff, turns
from backend_services.core.errors import PermissionDenied, ValidationFailed
from tests.integration.conversation_helpers import shop, visitor


async def test_a_period_counts_this_workspaces_conversations_and_rates_ai_and_people_apart(
    clean: None
) -> None:
    a, b = await shop("a"), await shop("b")
    assert a.bot.id is not None
    alone = await turns.handle_visitor_message(a.visitor, "Where is my order?", "c1")
    await turns.handle_visitor_message(a.visitor, "Thanks!", "c2")
    await dialogs.rate(a.visitor, alone.posted.dialog.id, 5)

    waiting = await visitor(a.bot, "v-waiting")
    started = await turns.handle_visitor_message(waiting, "My card was charged twice", "c3")
    await turns.request_human(waiting, started.posted.dialog.id)

    helped = await visitor(a.bot, "v-helped")
    asked = await turns.handle_visitor_message(helped, "Can I change the address?", "c4")
    await turns.request_human(helped, asked.posted.dialog.id)
    await handoff.accept(a.anna, asked.posted.dialog.id)
    await dialogs.operator_reply(a.anna, asked.posted.dialog.id, "Yes, done.", "r1")
    await dialogs.rate(helped, asked.posted.dialog.id, 3)

    other = await turns.handle_visitor_message(b.visitor, "Hello from b", "c5")
    await dialogs.rate(b.visitor, other.posted.dialog.id, 1)

    today = datetime.now(UTC).date()
    week = Filters(today - timedelta(days=6), today)
    s = await summary(a.owner, week)
    assert (s.conversations, s.ai_only, s.handed_over) == (3, 1, 2)
    assert s.messages == 5  # visitors' four and the operator's reply; system notes are not
    assert s.reasons == [("visitor asked for a human", 2)]
    assert (s.rated_ai.count, s.rated_ai.average, s.rated_ai.distribution) == (
        1, 5.0, (0, 0, 0, 0, 1))
    assert (s.rated_human.count, s.rated_human.average) == (1, 3.0)
    assert len(s.days) == 7 and s.days[-1].day == today.isoformat()
    assert (s.days[-1].conversations, s.days[-1].messages) == (3, 5)
    assert all(d.conversations == 0 for d in s.days[:-1])

    # Filters: a channel with nothing on it, an assistant, a period before any of it.
    assert (await summary(a.owner, Filters(today, today, channel="telegram"))).conversations == 0
    assert (await summary(a.owner, Filters(today, today, assistant_id=a.bot.id))
            ).conversations == 3
    assert (await summary(a.owner, Filters(today, today, assistant_id=b.bot.id))
            ).conversations == 0  # another workspace's assistant shows nothing
    yesterday = today - timedelta(days=1)
    assert (await summary(a.owner, Filters(yesterday, yesterday))).conversations == 0

    theirs = await summary(b.owner, week)
    assert (theirs.conversations, theirs.rated_ai.distribution) == (1, (1, 0, 0, 0, 0))
    with pytest.raises(ValidationFailed):
        await summary(a.owner, Filters(today, yesterday))
    with pytest.raises(ValidationFailed):
        await summary(a.owner, Filters(today, today, channel="fax"))
    with pytest.raises(PermissionDenied):
        await summary(a.anna, week)
