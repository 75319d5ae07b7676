"""Visitors and operators talk in dialogs: idempotent sends, tenant and visitor walls,
notes, rating, the offline contact form, search, unread counts and dialog events.

Real PostgreSQL and Valkey (`clean`); no provider is needed because nothing here asks the AI.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from backend_services.conversations import dialogs, handoff
from backend_services.conversations.dialogs import DialogFilter
from backend_services.conversations.events import DIALOG_STREAM, DialogChanged
from backend_services.core import events
from backend_services.core.db import session_scope
from backend_services.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from backend_services.models import Dialog, Message
from tests.integration.conversation_helpers import assistant, shop, visitor


async def _messages(dialog_id: int) -> list[Message]:
    async with session_scope() as s:
        return list(await s.exec(select(Message).where(col(Message.dialog_id) == dialog_id)
                                 .order_by(col(Message.id))))


# ------------------------------------------------------------------------ sending


async def test_a_retried_send_with_the_same_client_id_stores_one_message(clean: None) -> None:
    s = await shop()
    first = await dialogs.visitor_message(s.visitor, "  Where is my order?  ", "c-1")
    again = await dialogs.visitor_message(s.visitor, "Where is my order?", "c-1")

    assert not first.duplicate and again.duplicate
    assert again.message.id == first.message.id
    assert first.message.content == "Where is my order?"
    assert first.dialog.status == "ai" and first.dialog.channel_kind == "widget"
    assert first.dialog.last_message_preview == "Where is my order?"
    assert [m.content for m in await _messages(first.dialog.id)] == ["Where is my order?"]


async def test_concurrent_retries_of_a_first_message_make_one_dialog_and_one_row(
    clean: None
) -> None:
    s = await shop()
    posted = await asyncio.gather(
        *(dialogs.visitor_message(s.visitor, "Hello?", "same-id") for _ in range(6))
    )

    assert len({p.dialog.id for p in posted}) == 1
    assert len({p.message.id for p in posted}) == 1
    assert sorted(p.duplicate for p in posted) == [False] + [True] * 5
    async with session_scope() as ss:
        assert len(list(await ss.exec(select(Dialog)))) == 1
    assert len(await _messages(posted[0].dialog.id)) == 1


async def test_empty_and_over_long_messages_are_refused_and_nothing_is_stored(
    clean: None
) -> None:
    s = await shop()
    with pytest.raises(ValidationFailed, match="Write a message"):
        await dialogs.visitor_message(s.visitor, " \n\t ", "c-1")
    with pytest.raises(ValidationFailed, match="too long"):
        await dialogs.visitor_message(s.visitor, "x" * 4001, "c-2")
    assert await dialogs.current_dialog(s.visitor) is None


async def test_markup_is_stored_verbatim_as_text(clean: None) -> None:
    s = await shop()
    hostile = '<script>alert("x")</script><img src=x onerror=alert(1)> & done'
    posted = await dialogs.visitor_message(s.visitor, hostile, "c-1")
    await handoff.accept(s.anna, posted.dialog.id)
    reply = await dialogs.operator_reply(s.anna, posted.dialog.id, "<b>bold?</b>", "r-1")

    seen_by_operator = await dialogs.history(s.anna, posted.dialog.id)
    seen_by_visitor = await dialogs.history(s.visitor, posted.dialog.id)
    assert seen_by_operator[0].content == hostile
    assert seen_by_visitor[-1].content == reply.content == "<b>bold?</b>"
    assert posted.dialog.last_message_preview == hostile


# ------------------------------------------------------------------------ walls


async def test_a_visitor_reads_only_their_own_dialogs_with_their_assistant(clean: None) -> None:
    s = await shop()
    other_bot = await assistant(s.owner, "Other bot")
    mine = await dialogs.visitor_message(s.visitor, "mine", "c-1")
    stranger = await visitor(s.bot, "visitor-2")
    theirs = await dialogs.visitor_message(stranger, "theirs", "c-1")
    # The same browser id on another assistant is another actor with no access here.
    same_id_other_bot = await visitor(other_bot, s.visitor.external_id)

    assert [m.content for m in await dialogs.history(s.visitor, mine.dialog.id)] == ["mine"]
    for who, dialog_id in ((s.visitor, theirs.dialog.id), (stranger, mine.dialog.id),
                           (same_id_other_bot, mine.dialog.id)):
        with pytest.raises(NotFound):
            await dialogs.history(who, dialog_id)
        with pytest.raises(NotFound):
            await dialogs.rate(who, dialog_id, 5)
        with pytest.raises(NotFound):
            await dialogs.close(who, dialog_id)
        with pytest.raises(NotFound):
            await dialogs.leave_contact(who, dialog_id, "Eve", "eve@example.com")
    assert (await dialogs.current_dialog(same_id_other_bot)) is None


async def test_an_operator_cannot_touch_another_workspaces_dialog(clean: None) -> None:
    a = await shop("a")
    b = await shop("b")
    theirs = (await dialogs.visitor_message(b.visitor, "help", "c-1")).dialog.id

    attempts = [
        dialogs.get_dialog(a.anna, theirs),
        dialogs.history(a.anna, theirs),
        dialogs.operator_reply(a.anna, theirs, "hi", "r-1"),
        dialogs.add_note(a.anna, theirs, "note"),
        dialogs.mark_read(a.anna, theirs, 1),
        dialogs.typing(a.anna, theirs),
        handoff.accept(a.anna, theirs),
        handoff.transfer(a.owner, theirs, a.boris.user_id),
        handoff.release(a.owner, theirs),
        dialogs.close(a.owner, theirs),
    ]
    for attempt in attempts:
        with pytest.raises(NotFound):
            await attempt
    # Not even by naming one of their operators as the transfer target.
    await handoff.accept(b.anna, theirs)
    with pytest.raises(NotFound):
        await handoff.transfer(b.anna, theirs, a.boris.user_id)
    assert await dialogs.search(a.owner) == []
    view = await dialogs.get_dialog(b.anna, theirs)
    assert (view.status, view.assigned_user_id) == ("active", b.anna.user_id)
    assert [m.sender for m in await dialogs.history(b.anna, theirs)] == ["visitor", "system"]
    # The queue shows what the visitor said, not our "joined" notice.
    assert view.last_message_preview == (await dialogs.history(b.anna, theirs))[0].content


async def test_notes_never_reach_the_visitor(clean: None) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "I was charged twice", "c-1")).dialog.id
    note = await dialogs.add_note(s.boris, d, "Customer since 2019, refund approved")

    assert note.sender == "note" and note.author_name == "Boris"
    assert [m.sender for m in await dialogs.history(s.anna, d)] == ["visitor", "note"]
    assert [m.content for m in await dialogs.history(s.visitor, d)] == ["I was charged twice"]
    current = await dialogs.current_dialog(s.visitor)
    assert current is not None
    assert current.last_message_preview == "I was charged twice"
    assert current.last_message_id != note.id


# ------------------------------------------------------------------------ lifecycle


async def test_a_closed_dialog_stays_closed_and_the_next_message_starts_a_new_one(
    clean: None
) -> None:
    s = await shop()
    first = (await dialogs.visitor_message(s.visitor, "one", "c-1")).dialog.id
    closed = await dialogs.close(s.visitor, first)
    assert closed.status == "closed" and closed.closed_at is not None
    assert await dialogs.current_dialog(s.visitor) is None

    second = await dialogs.visitor_message(s.visitor, "two", "c-2")
    assert second.dialog.id != first and second.dialog.status == "ai"
    assert [m.content for m in await dialogs.history(s.visitor, first)][-1] == (
        "The conversation was closed."
    )
    with pytest.raises(Conflict, match="closed"):
        await handoff.accept(s.anna, first)


async def test_the_rating_is_recorded_against_the_ai_or_the_human_who_took_part(
    clean: None
) -> None:
    s = await shop()
    ai_only = (await dialogs.visitor_message(s.visitor, "hi", "c-1")).dialog.id
    await dialogs.close(s.visitor, ai_only)
    rated = await dialogs.rate(s.visitor, ai_only, 4)
    assert (rated.rating, rated.rated_handler) == (4, "ai")

    human = (await dialogs.visitor_message(s.visitor, "again", "c-2")).dialog.id
    await handoff.accept(s.anna, human)
    await handoff.release(s.anna, human)
    await dialogs.rate(s.visitor, human, 2)
    rerated = await dialogs.rate(s.visitor, human, 5)
    assert (rerated.rating, rerated.rated_handler) == (5, "human")
    for bad in (0, 6):
        with pytest.raises(ValidationFailed):
            await dialogs.rate(s.visitor, human, bad)


async def test_a_visitor_leaves_a_contact_for_a_person_to_reply_to(clean: None) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "hi", "c-1")).dialog.id
    with pytest.raises(ValidationFailed, match="e-mail"):
        await dialogs.leave_contact(s.visitor, d, "Eve", "not-an-address")

    view = await dialogs.leave_contact(s.visitor, d, "  Eve  Adams ", " Eve@Example.com ")

    assert (view.contact_name, view.contact_email, view.awaiting_contact) == (
        "Eve Adams", "eve@example.com", False
    )
    assert (await dialogs.history(s.visitor, d))[-1].content == (
        "Thank you! We will get back to you at eve@example.com."
    )
    assert (await dialogs.get_dialog(s.anna, d)).contact_email == "eve@example.com"


# ------------------------------------------------------------------------ console lists


async def test_search_lists_the_queue_mine_and_all_with_filters(clean: None) -> None:
    s = await shop()
    other_bot = await assistant(s.owner, "Sales bot")
    tg = await visitor(s.bot, "tg-42", kind="telegram", name="Telegram Tom")
    sales = await visitor(other_bot, "visitor-9", name="Sally")
    d1 = (await dialogs.visitor_message(s.visitor, "refund please", "c-1")).dialog.id
    d2 = (await dialogs.visitor_message(tg, "where is my parcel", "c-1")).dialog.id
    d3 = (await dialogs.visitor_message(sales, "price of the pro plan?", "c-1")).dialog.id
    await handoff.request(d2, s.owner.workspace_id, reason="test", by="visitor")
    await handoff.request(d1, s.owner.workspace_id, reason="test", by="visitor")
    await handoff.accept(s.anna, d3)

    async def ids(**kw: object) -> list[int]:
        return [v.id for v in await dialogs.search(s.anna, DialogFilter(**kw))]  # type: ignore[arg-type]

    assert await ids(scope="queue") == [d2, d1]  # the longest waiting first
    assert await ids(scope="mine") == [d3]
    assert sorted(await ids()) == [d1, d2, d3]
    assert await ids(channel_kind="telegram") == [d2]
    assert await ids(assistant_id=other_bot.id) == [d3]
    assert await ids(status="active") == [d3]
    assert await ids(text="PARCEL") == [d2]
    assert await ids(text="sally") == [d3]
    assert await ids(text="100%_") == []
    today = datetime.now(UTC).date()
    assert sorted(await ids(date_from=today, date_to=today)) == [d1, d2, d3]
    assert await ids(date_to=today - timedelta(days=1)) == []
    [queued] = [v for v in await dialogs.search(s.anna, DialogFilter(scope="queue"))
                if v.id == d2]
    assert queued.contact_name == "Telegram Tom" and queued.channel_kind == "telegram"
    assert queued.waiting_seconds >= 0 and queued.handoff_requested_at is not None
    assert await dialogs.search(s.boris, DialogFilter(scope="mine")) == []


async def test_unread_counts_follow_what_the_operator_has_read(clean: None) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "one", "c-1")).dialog.id
    await handoff.request(d, s.owner.workspace_id, reason="test", by="visitor")
    second = await dialogs.visitor_message(s.visitor, "two", "c-2")

    assert await dialogs.unread_counts(s.anna) == {d: 2}
    assert (await dialogs.get_dialog(s.anna, d)).unread == 2
    await dialogs.mark_read(s.anna, d, second.message.id - 1)
    assert await dialogs.unread_counts(s.anna) == {d: 1}
    await dialogs.mark_read(s.anna, d, second.message.id + 1000)  # clamped, never ahead
    await dialogs.mark_read(s.anna, d, 1)  # never moves back
    assert await dialogs.unread_counts(s.anna) == {}
    assert await dialogs.unread_counts(s.boris) == {d: 2}  # read marks are per operator

    await handoff.accept(s.boris, d)
    await dialogs.operator_reply(s.boris, d, "hello", "r-1")
    third = await dialogs.visitor_message(s.visitor, "three", "c-3")
    assert await dialogs.unread_counts(s.boris) == {d: 1}
    assert await dialogs.unread_counts(s.anna) == {}  # Boris's dialog, not in Anna's queue
    assert third.message.sender == "visitor"


# ------------------------------------------------------------------------ events


async def test_changes_are_published_to_the_workspace_channel_and_the_dialog_stream(
    clean: None
) -> None:
    s = await shop()
    other = await shop("b")
    async with events.subscribe(DialogChanged, workspace_id=s.owner.workspace_id) as sub:
        posted = await dialogs.visitor_message(s.visitor, "hi", "c-1")
        await dialogs.visitor_message(s.visitor, "hi", "c-1")  # duplicate: no event
        elsewhere = await dialogs.visitor_message(other.visitor, "elsewhere", "c-1")
        note = await dialogs.add_note(s.anna, posted.dialog.id, "psst")
        taken = await handoff.accept(s.anna, posted.dialog.id)
        got = [await asyncio.wait_for(anext(sub), 10) for _ in range(3)]

    assert all(isinstance(e, DialogChanged) for e in got)
    seen = [(e.kind, e.message_id, e.status, e.by) for e in got]  # type: ignore[attr-defined]
    assert seen == [
        ("message", posted.message.id, "ai", "visitor"),
        ("note", note.id, "ai", f"user:{s.anna.user_id}"),
        ("status", taken.last_message_id, "active", f"user:{s.anna.user_id}"),
    ]
    from backend_services.core.redis_client import get_redis

    entries = await get_redis().xrange(events.stream_key(DIALOG_STREAM))
    decoded = [events.decode(fields["event"]) for _, fields in entries]
    assert [(e.dialog_id, e.kind) for e in decoded] == [  # type: ignore[attr-defined]
        (posted.dialog.id, "message"), (elsewhere.dialog.id, "message"),
        (posted.dialog.id, "note"), (posted.dialog.id, "status"),
    ]


async def test_only_the_assigned_operator_replies_and_a_retry_does_not_repeat_it(
    clean: None
) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "hi", "c-1")).dialog.id
    with pytest.raises(Conflict, match="Take over"):
        await dialogs.operator_reply(s.anna, d, "hello", "r-1")
    await handoff.accept(s.anna, d)
    with pytest.raises(Conflict, match="Anna is handling"):
        await dialogs.operator_reply(s.boris, d, "me too", "r-2")
    with pytest.raises(PermissionDenied):
        await dialogs.close(s.boris, d)

    first = await dialogs.operator_reply(s.anna, d, "hello", "r-1")
    again = await dialogs.operator_reply(s.anna, d, "hello", "r-1")
    assert first.id == again.id and first.author_name == "Anna"
    assert [m.content for m in await dialogs.history(s.visitor, d)] == [
        "hi", "Anna joined the conversation.", "hello"
    ]


async def test_typing_is_announced_at_most_every_moment_and_only_in_ones_own_dialog(
    clean: None
) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "hi", "c-1")).dialog.id
    stranger = await visitor(s.bot, "stranger")
    async with events.subscribe(DialogChanged, workspace_id=s.owner.workspace_id) as sub:
        sent = [await dialogs.typing(s.visitor, d) for _ in range(5)]
        assert await dialogs.typing(s.anna, d)  # the operator is another typist
        with pytest.raises(NotFound):
            await dialogs.typing(stranger, d)
        got = [await asyncio.wait_for(anext(sub), 10) for _ in range(2)]
    assert sent == [True, False, False, False, False]
    assert [(e.kind, e.by) for e in got] == [  # type: ignore[attr-defined]
        ("typing", "visitor"), ("typing", f"user:{s.anna.user_id}")]
    assert [m.content for m in await dialogs.history(s.anna, d)] == ["hi"]  # nothing stored


async def test_the_first_human_reply_time_is_kept_for_the_sla(clean: None) -> None:
    s = await shop()
    d = (await dialogs.visitor_message(s.visitor, "hi", "c-1")).dialog.id
    asked = datetime.now(UTC) - timedelta(seconds=90)
    await handoff.request(d, s.owner.workspace_id, reason="asked", by="visitor", now=asked)
    await handoff.accept(s.anna, d)
    assert (await dialogs.get_dialog(s.anna, d)).first_reply_seconds is None
    await dialogs.operator_reply(s.anna, d, "hello", "r-1")
    view = await dialogs.get_dialog(s.anna, d)
    assert view.first_reply_seconds is not None and 90 <= view.first_reply_seconds < 100
    assert view.first_human_reply_at is not None
