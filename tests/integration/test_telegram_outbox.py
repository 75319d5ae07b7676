"""The durable Telegram outbox: operator and system messages reach the Telegram chat once
queued, in order per chat, across claimers, crashes and retries; and the text splitter.

Real PostgreSQL and Valkey (`clean`). Dialogs and messages are made through the
conversation services exactly as the console and the fleet make them; bots (channel rows)
are inserted directly. "Sending" is done by the test in the fleet's place: claim, record
each part with the id Telegram would have given, mark sent.
"""

from __future__ import annotations

import asyncio
import html
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.channels.telegram import outbox
from backend_services.channels.telegram.outbox import OutboxItem
from backend_services.channels.telegram.text import (
    escape_html,
    split_for_telegram,
    utf16_len,
)
from backend_services.conversations import dialogs, handoff, turns
from backend_services.conversations.actors import ContactActor, contact_actor
from backend_services.conversations.events import DIALOG_STREAM, DialogChanged
from backend_services.core.db import session_scope, sync_url
from backend_services.core.events import StreamConsumer
from backend_services.core.settings import reset_settings_cache
from backend_services.models import Channel, TelegramOutbox
from tests.integration.conversation_helpers import Shop, eventually, shop

_tg_ids = itertools.count(70_000)


# ------------------------------------------------------------------------ set-up


async def _bot(s: Shop, bot_id: int) -> int:
    """A Telegram bot connected to the shop's assistant (a channel row)."""
    assert s.bot.id is not None
    async with session_scope() as session:
        channel = Channel(workspace_id=s.owner.workspace_id, assistant_id=s.bot.id,
                          kind="telegram", name=f"bot {bot_id}", external_id=str(bot_id),
                          token_encrypted="not-a-real-token")
        session.add(channel)
        await session.flush()
        assert channel.id is not None
        return channel.id


async def _tg_user(s: Shop, channel_id: int, chat_id: int) -> ContactActor:
    assert s.bot.id is not None
    return await contact_actor(s.owner.workspace_id, s.bot.id, "telegram", str(chat_id),
                               channel_id=channel_id, name="Telegram user")


@dataclass
class Chat:
    actor: ContactActor
    dialog_id: int
    joined_message_id: int  # the system message "Anna joined"


async def _taken_chat(s: Shop, channel_id: int, chat_id: int) -> Chat:
    """A Telegram user wrote; Anna took the conversation (the system announces it)."""
    actor = await _tg_user(s, channel_id, chat_id)
    posted = await dialogs.visitor_message(actor, "I need a person", f"tg:{chat_id}:1")
    await handoff.accept(s.anna, posted.dialog.id)
    history = await dialogs.history(s.anna, posted.dialog.id)
    joined = [m for m in history if m.sender == "system"][-1]
    return Chat(actor, posted.dialog.id, joined.id)


async def _reply(s: Shop, chat: Chat, text: str, cid: str) -> int:
    return (await dialogs.operator_reply(s.anna, chat.dialog_id, text, cid)).id


async def _rows() -> list[TelegramOutbox]:
    async with session_scope() as session:
        return list(await session.exec(select(TelegramOutbox)
                                       .order_by(col(TelegramOutbox.message_id))))


async def _deliver(item: OutboxItem) -> list[int]:
    """Send every pending part as the fleet would; returns the Telegram ids given."""
    ids = []
    for index, _part in item.pending_parts:
        tg_id = next(_tg_ids)
        assert await outbox.mark_part_sent(item.id, index, tg_id, token=item.token)
        ids.append(tg_id)
    assert await outbox.mark_sent(item.id, token=item.token)
    return ids


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Change settings for one test; restored after."""
    yield monkeypatch
    monkeypatch.undo()
    reset_settings_cache()


# ------------------------------------------------------------------------ what is queued


async def test_an_operator_reply_is_queued_once_however_often_it_is_enqueued(
    clean: None,
) -> None:
    s = await shop()
    chat = await _taken_chat(s, await _bot(s, 1001), 555)
    reply = await _reply(s, chat, "Hello from Anna", "r-1")

    assert await outbox.enqueue_message(reply) is True
    assert await outbox.enqueue_message(reply) is False
    again = await _reply(s, chat, "Second reply", "r-2")
    made = await asyncio.gather(*(outbox.enqueue_message(again) for _ in range(8)))

    assert sorted(made) == [False] * 7 + [True]
    rows = await _rows()
    assert [(r.message_id, r.chat_id, r.text) for r in rows] == [
        (chat.joined_message_id, 555, rows[0].text),  # the "joined" line came along first
        (reply, 555, "Hello from Anna"),
        (again, 555, "Second reply"),
    ]
    assert {r.status for r in rows} == {"queued"}
    assert await outbox.queue_depth() == 3


async def test_only_operator_and_system_messages_of_telegram_chats_with_a_bot_are_queued(
    clean: None,
) -> None:
    s = await shop()
    channel = await _bot(s, 1002)
    chat = await _taken_chat(s, channel, 556)
    user_message = (await dialogs.history(s.anna, chat.dialog_id))[0]
    note = await dialogs.add_note(s.anna, chat.dialog_id, "VIP customer", "n-1")
    reply = await _reply(s, chat, "On it", "r-1")

    # The widget visitor's dialog: the same operator reply is not Telegram's business.
    widget = await dialogs.visitor_message(s.visitor, "hi from the site", "w-1")
    await handoff.accept(s.anna, widget.dialog.id)
    widget_reply = (await dialogs.operator_reply(s.anna, widget.dialog.id, "Hi", "w-r")).id

    assert user_message.sender == "visitor"
    assert await outbox.enqueue_message(user_message.id) is False
    assert await outbox.enqueue_message(note.id) is False
    assert await outbox.enqueue_message(widget_reply) is False
    assert await outbox.enqueue_message(reply) is True
    assert [r.message_id for r in await _rows()] == [chat.joined_message_id, reply]

    # A bot that was deleted takes its queue with it and queues nothing more.
    async with session_scope() as session:
        await session.exec(sa.delete(Channel).where(col(Channel.id) == channel))  # type: ignore[call-overload]
    later = await _reply(s, chat, "Still there?", "r-2")
    assert await outbox.enqueue_message(later) is False
    assert await _rows() == []


async def test_ai_answers_are_queued_only_when_the_fleet_says_it_sends_them_this_way(
    clean: None,
) -> None:
    s = await shop()
    actor = await _tg_user(s, await _bot(s, 1003), 557)
    start = await turns.handle_visitor_message(actor, "What are your hours?", "tg:1003:1")
    assert start.ai_should_answer
    async for _item in turns.stream_ai_reply(actor, start.posted.dialog.id,
                                             start.posted.message.id):
        pass
    history = await dialogs.history(s.anna, start.posted.dialog.id)
    ai = [m for m in history if m.sender == "ai"]
    assert ai, "the assistant answered"

    assert await outbox.enqueue_message(ai[0].id) is False
    assert await outbox.enqueue_message(ai[0].id, include_ai=True) is True
    queued = {r.message_id for r in await _rows()}
    assert ai[0].id in queued
    assert all(m.sender in ("ai", "system") for m in history if m.id in queued)


async def test_dialog_events_from_the_stream_queue_the_chats_messages(clean: None) -> None:
    s = await shop()
    chat = await _taken_chat(s, await _bot(s, 1004), 558)
    reply = await _reply(s, chat, "Found your order", "r-1")
    released = await handoff.release(s.anna, chat.dialog_id)  # "back to the assistant"

    consumer = StreamConsumer(DIALOG_STREAM, "fleet-outbox", "test-worker",
                              outbox.handle_dialog_event, block_ms=200)

    async def queued() -> list[int] | None:
        await consumer.run_once()
        ids = [r.message_id for r in await _rows()]
        return ids if len(ids) >= 3 else None

    ids = await eventually(queued, "the stream's messages reaching the outbox")
    history = await dialogs.history(s.anna, chat.dialog_id)
    expected = [m.id for m in history if m.sender in ("operator", "system")]
    assert ids == expected and reply in ids and released.status == "ai"


async def test_an_event_naming_another_workspace_queues_nothing(clean: None) -> None:
    a = await shop("a")
    b = await shop("b")
    chat = await _taken_chat(a, await _bot(a, 1005), 559)
    reply = await _reply(a, chat, "Private to shop A", "r-1")

    crafted = DialogChanged(workspace_id=b.owner.workspace_id, dialog_id=chat.dialog_id,
                            status="active", message_id=reply, kind="message", by="user:1")
    await outbox.handle_dialog_event(crafted)
    assert await _rows() == []


async def test_a_dialog_pointed_at_another_tenants_bot_is_never_queued(clean: None) -> None:
    a = await shop("a")
    b = await shop("b")
    chat = await _taken_chat(a, await _bot(a, 1006), 560)
    foreign_bot = await _bot(b, 2006)
    # Crafted data: shop A's dialog names shop B's bot.
    async with session_scope() as session:
        await session.exec(sa.text("UPDATE dialogs SET channel_id = :c WHERE id = :d")  # type: ignore[call-overload]
                           .bindparams(c=foreign_bot, d=chat.dialog_id))
    reply = await _reply(a, chat, "For A's user only", "r-1")

    assert await outbox.enqueue_message(reply) is False
    assert await outbox.enqueue_missing(timedelta(hours=1)) == 0
    assert await outbox.claim([foreign_bot], 10, 60) == []


async def test_messages_whose_event_was_lost_are_caught_up_once(clean: None) -> None:
    s = await shop()
    channel = await _bot(s, 1007)
    first = await _taken_chat(s, channel, 561)
    second = await _taken_chat(s, channel, 562)
    replies = [await _reply(s, first, "one", "r-1"), await _reply(s, second, "two", "r-2")]
    old = await _reply(s, first, "from last week", "r-old")
    async with session_scope() as session:
        await session.exec(sa.text(  # type: ignore[call-overload]
            "UPDATE messages SET created_at = now() - interval '7 days' WHERE id = :m"
        ).bindparams(m=old))

    # Nothing consumed the stream (the fleet was down): the sweep finds them.
    assert await outbox.enqueue_missing(timedelta(hours=1)) == 4
    assert await outbox.enqueue_missing(timedelta(hours=1)) == 0
    # Even asked to look back a month, it stops at the catch-up window (24 h).
    assert await outbox.enqueue_missing(timedelta(days=30)) == 0
    queued = [r.message_id for r in await _rows()]
    assert queued == sorted([first.joined_message_id, second.joined_message_id, *replies])
    assert old not in queued


# ------------------------------------------------------------------------ order and leases


async def test_a_later_message_never_overtakes_an_earlier_one_across_claimers(
    clean: None,
) -> None:
    s = await shop()
    channel = await _bot(s, 1010)
    chats = [await _taken_chat(s, channel, 600 + n) for n in range(3)]
    written: dict[int, list[int]] = {int(c.actor.external_id): [] for c in chats}
    for round_ in range(4):
        for c in chats:
            written[int(c.actor.external_id)].append(
                await _reply(s, c, f"message {round_}", f"r-{round_}"))
    # Enqueue newest first, as a lagging consumer might: order must not depend on it.
    for mid in sorted((m for ms in written.values() for m in ms), reverse=True):
        await outbox.enqueue_message(mid)

    delivered: dict[int, list[int]] = {chat: [] for chat in written}
    in_flight: set[int] = set()
    overlaps: list[int] = []

    async def send(item: OutboxItem) -> None:
        if item.chat_id in in_flight:
            overlaps.append(item.chat_id)
        in_flight.add(item.chat_id)
        await asyncio.sleep(0)  # poll: yield so the other claimers run while this one "sends"
        delivered[item.chat_id].append(item.message_id)
        await _deliver(item)
        in_flight.discard(item.chat_id)

    async def claimer() -> None:
        """Like a fleet worker: every claimed message is sent by its own task at once."""
        idle = 0
        while idle < 3:
            items = await outbox.claim([channel], 10, 60)
            idle = 0 if items else idle + 1
            await asyncio.gather(*(send(item) for item in items))

    await asyncio.gather(claimer(), claimer(), claimer())

    assert overlaps == []
    for c in chats:
        chat_id = int(c.actor.external_id)
        assert delivered[chat_id] == [c.joined_message_id, *written[chat_id]]
    assert await outbox.queue_depth([channel]) == 0


async def test_a_chat_waits_behind_a_message_held_by_another_claimer(clean: None) -> None:
    s = await shop()
    channel = await _bot(s, 1011)
    chat = await _taken_chat(s, channel, 610)
    other = await _taken_chat(s, channel, 611)
    await outbox.enqueue_message(await _reply(s, chat, "first", "r-1"))
    await outbox.enqueue_message(await _reply(s, chat, "second", "r-2"))
    await outbox.enqueue_message(other.joined_message_id)

    first, second = await asyncio.gather(outbox.claim([channel], 10, 60),
                                         outbox.claim([channel], 10, 60))
    got = [*first, *second]
    # One head per chat, each claimed by exactly one claimer.
    assert sorted(i.message_id for i in got) == [chat.joined_message_id,
                                                 other.joined_message_id]
    assert await outbox.claim([channel], 10, 60) == []
    head = next(i for i in got if i.chat_id == 610)
    await _deliver(head)
    [nxt] = await outbox.claim([channel], 10, 60)
    assert nxt.chat_id == 610 and nxt.text == "first"


async def test_an_expired_lease_is_claimed_again_and_the_old_holder_must_stop(
    clean: None,
) -> None:
    s = await shop()
    channel = await _bot(s, 1012)
    chat = await _taken_chat(s, channel, 620)
    await outbox.enqueue_message(chat.joined_message_id)

    # A worker claims and dies: its lease (0 s here) runs out.
    [lost] = await outbox.claim([channel], 10, 0)
    [taken] = await outbox.claim([channel], 10, 60)

    assert taken.id == lost.id and taken.token != lost.token
    assert (lost.attempts, taken.attempts) == (1, 2)
    assert await outbox.mark_part_sent(lost.id, 0, 1, token=lost.token) is False
    assert await outbox.mark_sent(lost.id, token=lost.token) is False
    assert await outbox.claim([channel], 10, 60) == []  # the live lease holds
    await _deliver(taken)
    row = await outbox.delivery_of(chat.joined_message_id)
    assert row is not None and row.status == "sent" and row.sent_at is not None


async def test_parts_already_sent_are_not_sent_again_after_a_crash(clean: None) -> None:
    s = await shop()
    channel = await _bot(s, 1013)
    chat = await _taken_chat(s, channel, 630)
    await outbox.enqueue_message(chat.joined_message_id)
    [joined] = await outbox.claim([channel], 10, 60)
    await _deliver(joined)
    # Russian text and emoji: under 4,000 characters but over 4,096 UTF-16 units.
    long_text = " ".join(["Ваш заказ отправлен 📦"] * 100) + "\n\n" + "✅🚚" * 700
    assert len(long_text) <= 4000 < utf16_len(long_text)
    reply = await _reply(s, chat, long_text, "r-long")
    await outbox.enqueue_message(reply)

    [item] = await outbox.claim([channel], 10, 0)
    assert len(item.parts) == 2 and "\n\n".join(item.parts) == long_text
    assert await outbox.mark_part_sent(item.id, 0, 501, token=item.token)
    # The worker dies before the second part. Another takes the message over.
    [again] = await outbox.claim([channel], 10, 60)
    assert again.id == item.id
    assert again.parts_sent == 1 and again.pending_parts == [(1, item.parts[1])]
    assert await outbox.mark_part_sent(again.id, 0, 501, token=again.token)  # a repeat: fine
    assert not await outbox.mark_part_sent(again.id, 2, 503, token=again.token)  # a gap: no
    assert await outbox.mark_part_sent(again.id, 1, 502, token=again.token)
    assert await outbox.mark_sent(again.id, token=again.token)

    done = await outbox.delivery_of(reply)
    assert done is not None and done.telegram_message_ids == (501, 502)


async def test_a_message_whose_sender_keeps_dying_is_failed_after_the_last_attempt(
    clean: None, settings_env: pytest.MonkeyPatch,
) -> None:
    settings_env.setenv("REPLYX_TELEGRAM_OUTBOX_MAX_ATTEMPTS", "2")
    reset_settings_cache()
    s = await shop()
    channel = await _bot(s, 1014)
    chat = await _taken_chat(s, channel, 631)
    await outbox.enqueue_message(chat.joined_message_id)

    for _ in range(2):  # each holder dies: its lease (0 s) runs out
        assert len(await outbox.claim([channel], 10, 0)) == 1
    assert await outbox.claim([channel], 10, 60) == []
    row = await outbox.delivery_of(chat.joined_message_id)
    assert row is not None and row.status == "failed"
    assert row.last_error.startswith("delivery interrupted 2 times")


# ------------------------------------------------------------------------ failures


async def test_failed_sends_back_off_exponentially_and_give_up_after_the_last_attempt(
    clean: None, settings_env: pytest.MonkeyPatch,
) -> None:
    settings_env.setenv("REPLYX_TELEGRAM_OUTBOX_MAX_ATTEMPTS", "4")
    settings_env.setenv("REPLYX_TELEGRAM_OUTBOX_RETRY_BASE_SECONDS", "0.01")
    settings_env.setenv("REPLYX_TELEGRAM_OUTBOX_RETRY_CAP_SECONDS", "0.03")
    reset_settings_cache()
    s = await shop()
    channel = await _bot(s, 1020)
    chat = await _taken_chat(s, channel, 640)
    await outbox.enqueue_message(chat.joined_message_id)
    nxt = await _reply(s, chat, "after the failing one", "r-1")
    await outbox.enqueue_message(nxt)

    async def claimed() -> OutboxItem | None:
        items = await outbox.claim([channel], 10, 60)
        return items[0] if items else None

    delays = []
    statuses = []
    for attempt in range(1, 5):
        item = await eventually(claimed, f"attempt {attempt} being claimed")
        assert item.message_id == chat.joined_message_id  # the next one keeps waiting
        assert item.attempts == attempt
        statuses.append(await outbox.retry_later(item.id, None, f"HTTP 502 #{attempt}",
                                                 token=item.token))
        delays.append(await _retry_delay(item.id))
    assert statuses == ["queued", "queued", "queued", "failed"]
    assert delays[:3] == [0.01, 0.02, 0.03]  # doubling, then the cap
    failed = await outbox.delivery_of(chat.joined_message_id)
    assert failed is not None and failed.last_error == "HTTP 502 #4"
    # A failed message no longer holds its chat back.
    item = await eventually(claimed, "the next message being claimed")
    assert item.message_id == nxt


async def _retry_delay(item_id: int) -> float:
    """How long after the failure the row will be tried again (both times are set by
    the same statement, so this is exact)."""
    async with session_scope() as session:
        wait = (await session.exec(sa.text(  # type: ignore[call-overload]
            "SELECT extract(epoch FROM next_attempt_at - updated_at) FROM telegram_outbox "
            "WHERE id = :i").bindparams(i=item_id))).scalar_one()
    return float(wait)


async def test_retry_waits_for_telegrams_retry_after_and_doubles_up_to_the_cap(
    clean: None, settings_env: pytest.MonkeyPatch,
) -> None:
    settings_env.setenv("REPLYX_TELEGRAM_OUTBOX_RETRY_BASE_SECONDS", "2")
    settings_env.setenv("REPLYX_TELEGRAM_OUTBOX_RETRY_CAP_SECONDS", "5")
    reset_settings_cache()
    assert [outbox.backoff_seconds(n) for n in range(1, 6)] == [2.0, 4.0, 5.0, 5.0, 5.0]

    s = await shop()
    channel = await _bot(s, 1021)
    chat = await _taken_chat(s, channel, 641)
    await outbox.enqueue_message(chat.joined_message_id)
    [item] = await outbox.claim([channel], 10, 60)
    await outbox.retry_later(item.id, 30, "429: retry after 30", token=item.token)

    row = await outbox.delivery_of(chat.joined_message_id)
    assert row is not None and row.status == "queued" and row.attempts == 1
    assert await _retry_delay(item.id) == 30.0
    assert await outbox.claim([channel], 10, 60) == []  # not before its time


async def test_a_user_who_blocked_the_bot_fails_the_message_and_the_next_one_goes(
    clean: None,
) -> None:
    s = await shop()
    channel = await _bot(s, 1022)
    chat = await _taken_chat(s, channel, 642)
    await outbox.enqueue_message(chat.joined_message_id)
    later = await _reply(s, chat, "are you there?", "r-1")
    await outbox.enqueue_message(later)

    [item] = await outbox.claim([channel], 10, 60)
    assert await outbox.mark_failed(item.id, "403: bot was blocked by the user",
                                    token=item.token)
    failed = await outbox.delivery_of(item.message_id)
    assert failed is not None and failed.status == "failed"
    assert failed.last_error == "403: bot was blocked by the user"
    [nxt] = await outbox.claim([channel], 10, 60)
    assert nxt.message_id == later


async def test_a_postponed_message_keeps_its_attempts(clean: None) -> None:
    s = await shop()
    channel = await _bot(s, 1023)
    chat = await _taken_chat(s, channel, 643)
    await outbox.enqueue_message(chat.joined_message_id)

    [item] = await outbox.claim([channel], 10, 60)
    assert await outbox.postpone(item.id, 0, token=item.token)
    [again] = await outbox.claim([channel], 10, 60)
    assert again.attempts == 1


async def test_finished_rows_are_purged_only_after_the_catch_up_window(clean: None) -> None:
    s = await shop()
    channel = await _bot(s, 1024)
    chat = await _taken_chat(s, channel, 644)
    await outbox.enqueue_message(await _reply(s, chat, "done long ago", "r-1"))
    [joined] = await outbox.claim([channel], 10, 60)
    await _deliver(joined)
    [old] = await outbox.claim([channel], 10, 60)
    await _deliver(old)
    await outbox.enqueue_message(await _reply(s, chat, "still waiting", "r-2"))
    async with session_scope() as session:
        await session.exec(sa.text(  # type: ignore[call-overload]
            "UPDATE telegram_outbox SET updated_at = now() - interval '3 days' "
            "WHERE id = :i").bindparams(i=old.id))

    # Asked for one hour, it still keeps everything younger than the window (24 h) + 1 h.
    assert await outbox.purge_finished(timedelta(hours=1)) == 1
    left = await _rows()
    assert [r.status for r in left] == ["sent", "queued"]
    assert old.id not in {r.id for r in left}


# ------------------------------------------------------------------------ tenants


async def test_a_claimer_gets_only_the_bots_it_asked_for(clean: None) -> None:
    a = await shop("a")
    b = await shop("b")
    bot_a, bot_b = await _bot(a, 1030), await _bot(b, 2030)
    chat_a = await _taken_chat(a, bot_a, 650)
    chat_b = await _taken_chat(b, bot_b, 650)  # the same Telegram user, another bot
    await outbox.enqueue_message(chat_a.joined_message_id)
    await outbox.enqueue_message(chat_b.joined_message_id)

    assert await outbox.queue_depth([bot_a]) == 1 and await outbox.queue_depth() == 2
    got = await outbox.claim([bot_a], 10, 60)
    assert [(i.channel_id, i.workspace_id, i.message_id) for i in got] == [
        (bot_a, a.owner.workspace_id, chat_a.joined_message_id)]
    assert await outbox.claim([bot_a], 10, 60) == []
    assert await outbox.claim([], 10, 60) == []
    [theirs] = await outbox.claim([bot_b], 10, 60)
    assert theirs.workspace_id == b.owner.workspace_id


# ------------------------------------------------------------------------ schema


def test_the_migrated_table_matches_the_model(services: dict[str, str]) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine
    from sqlmodel import SQLModel

    engine = create_engine(sync_url(services["DATABASE_URL"]))
    try:
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    finally:
        engine.dispose()

    def concerns_outbox(diff: object) -> bool:
        return "telegram_outbox" in repr(diff)

    assert [d for d in diffs if concerns_outbox(d)] == []


# ------------------------------------------------------------------------ splitting text


def test_a_short_message_is_one_part_and_a_blank_one_none() -> None:
    assert split_for_telegram("  Привет!  ") == ["Привет!"]
    assert split_for_telegram(" \n ") == []


def test_long_russian_text_is_split_between_paragraphs_within_the_limit() -> None:
    paragraph = ("Доставка по Москве занимает один-два рабочих дня, по России — до недели. "
                 * 12).strip()
    text = "\n\n".join(f"{n}. {paragraph}" for n in range(1, 9))
    parts = split_for_telegram(text)

    assert len(parts) > 1
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == text  # every cut fell on a paragraph break
    assert all(p[0].isdigit() for p in parts)


def test_a_text_without_paragraphs_is_split_between_words() -> None:
    words = [f"слово{n}" for n in range(2000)]
    parts = split_for_telegram(" ".join(words), limit=500)

    assert all(utf16_len(p) <= 500 for p in parts)
    assert " ".join(parts).split() == words


def test_one_endless_word_is_cut_hard_but_never_inside_an_emoji_sequence() -> None:
    family = "👨\u200d👩\u200d👧"  # one glyph: five code points, eight UTF-16 units
    flag = "🇷🇺"
    text = (family + flag + "é") * 400  # "é" as e + combining accent
    text = text.replace("é", "e\u0301")
    parts = split_for_telegram(text, limit=100)

    assert "".join(parts) == text
    for p in parts:
        assert utf16_len(p) <= 100
        assert not p.startswith(("\u200d", "\u0301", "\U0001f1fa"))
        assert not p.endswith("\u200d")


def test_escaped_html_is_never_cut_inside_an_entity() -> None:
    text = '<b>"Tom & Jerry"</b> ' * 300
    escaped = escape_html(text)
    assert "<" not in escaped and "&lt;b&gt;" in escaped
    for limit in (100, 101, 102, 103, 150):
        parts = split_for_telegram(escaped.replace(" ", ""), limit=limit)
        assert all(utf16_len(p) <= limit for p in parts)
        for p in parts:  # every entity whole: as many '&' as ';' in each part
            assert p.count("&") == p.count(";")
        assert html.unescape("".join(parts)) == text.replace(" ", "")
