"""The event bus against a real Valkey: fan-out, tenant isolation, once-only stream work."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
import redis.asyncio as aioredis

from backend_services.channels.telegram.events import FleetChanged
from backend_services.conversations.events import DialogChanged
from backend_services.core.embedded_servers import EmbeddedValkey
from backend_services.core.events import (
    BatchStreamConsumer,
    Event,
    StreamConsumer,
    UnknownEvent,
    UserAccessChanged,
    dead_letter_key,
    decode,
    enqueue,
    publish,
    stream_key,
    subscribe,
)


class DialogMessageCreated(Event):
    """A test event (no product code publishes it): a message id in a dialog."""

    type: ClassVar[str] = "test.dialog_message_created"
    workspace_id: int
    dialog_id: int
    message_id: int


class DialogStatusChanged(Event):
    """A test event: a dialog's new status."""

    type: ClassVar[str] = "test.dialog_status_changed"
    workspace_id: int
    dialog_id: int
    status: str


class KnowledgeSourceQueued(Event):
    """A test event for the once-only streams: a document waiting for work."""

    type: ClassVar[str] = "test.knowledge_source_queued"
    workspace_id: int
    document_id: int


WAIT = 10.0  # generous upper bound for a condition; tests normally finish far sooner


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedValkey(Path(tmp_path_factory.mktemp("valkey")))
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def r(valkey_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(valkey_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = WAIT) -> None:
    """Re-check a condition that is driven by the awaited calls inside it (no fixed sleeps)."""

    async def loop() -> None:
        while not await condition():
            pass

    await asyncio.wait_for(loop(), timeout)


async def pending_count(r: aioredis.Redis, stream: str, group: str) -> int:
    info = await r.xpending(stream_key(stream), group)
    return int(info["pending"])


# ---------------------------------------------------------------- typed events


def test_decoding_an_unknown_type_raises_unknown_event() -> None:
    with pytest.raises(UnknownEvent, match=r"no\.such\.event"):
        decode('{"type": "no.such.event", "workspace_id": 1}')


def test_every_event_survives_a_round_trip_as_its_own_class() -> None:
    events: list[Event] = [
        DialogMessageCreated(workspace_id=1, dialog_id=2, message_id=3),
        DialogStatusChanged(workspace_id=1, dialog_id=2, status="operator"),
        UserAccessChanged(user_id=7, reason="logout"),
        KnowledgeSourceQueued(workspace_id=4, document_id=5),
        DialogChanged(workspace_id=1, dialog_id=2, status="ai", message_id=3, kind="note"),
        FleetChanged(workspace_id=1, channel_id=2, action="added", version=1),
    ]
    for event in events:
        back = decode(event.to_json())
        assert type(back) is type(event)
        assert back == event
        assert back.occurred_at.utcoffset() is not None


# ---------------------------------------------------------------- fan-out


async def test_a_published_event_reaches_a_subscriber_as_the_same_typed_object(
    r: aioredis.Redis,
) -> None:
    event = DialogMessageCreated(workspace_id=11, dialog_id=21, message_id=31)
    async with subscribe(DialogMessageCreated, redis=r) as events:
        receivers = await publish(event, redis=r)
        received = await asyncio.wait_for(anext(events), WAIT)
    assert receivers >= 1
    assert isinstance(received, DialogMessageCreated)
    assert received == event


async def test_a_subscriber_for_workspace_1_does_not_receive_workspace_2_events(
    r: aioredis.Redis,
) -> None:
    other = DialogMessageCreated(workspace_id=2, dialog_id=1, message_id=1)
    own = DialogMessageCreated(workspace_id=1, dialog_id=1, message_id=2)
    async with subscribe(workspace_id=1, redis=r) as events:
        # Published in this order on one connection, so if workspace 2's event were
        # delivered it would arrive first.
        await publish(other, redis=r)
        await publish(own, redis=r)
        received = await asyncio.wait_for(anext(events), WAIT)
    assert received == own


async def test_a_workspace_subscriber_can_narrow_to_some_types(r: aioredis.Redis) -> None:
    message = DialogMessageCreated(workspace_id=3, dialog_id=1, message_id=1)
    status = DialogStatusChanged(workspace_id=3, dialog_id=1, status="closed")
    async with subscribe(DialogStatusChanged, workspace_id=3, redis=r) as events:
        await publish(message, redis=r)
        await publish(status, redis=r)
        received = await asyncio.wait_for(anext(events), WAIT)
    assert received == status


# ---------------------------------------------------------------- once-only work


async def test_two_consumers_in_one_group_each_get_distinct_entries_exactly_once(
    r: aioredis.Redis,
) -> None:
    stream, group = unique("jobs"), "workers"
    sent = [KnowledgeSourceQueued(workspace_id=1, document_id=n) for n in range(20)]
    for event in sent:
        await enqueue(stream, event, redis=r)

    seen: dict[str, list[str]] = {"a": [], "b": []}

    def make(name: str) -> StreamConsumer:
        async def handler(event: Event) -> None:
            seen[name].append(event.id)

        return StreamConsumer(stream, group, name, handler, redis=r, block_ms=10, batch=5)

    a, b = make("a"), make("b")

    async def all_handled() -> bool:
        await a.run_once()
        await b.run_once()
        return len(seen["a"]) + len(seen["b"]) >= len(sent)

    await until(all_handled)

    assert seen["a"] and seen["b"]
    assert not set(seen["a"]) & set(seen["b"])
    together = seen["a"] + seen["b"]
    assert sorted(together) == sorted(e.id for e in sent)
    assert await a.run_once() == 0
    assert await b.run_once() == 0
    assert await pending_count(r, stream, group) == 0


async def test_an_entry_whose_handler_raised_is_redelivered_to_another_consumer(
    r: aioredis.Redis,
) -> None:
    stream, group = unique("jobs"), "workers"
    event = KnowledgeSourceQueued(workspace_id=1, document_id=99)
    await enqueue(stream, event, redis=r)

    failed: list[Event] = []

    async def crashing(ev: Event) -> None:
        failed.append(ev)
        raise RuntimeError("worker fell over")

    done: asyncio.Future[Event] = asyncio.get_running_loop().create_future()

    async def working(ev: Event) -> None:
        done.set_result(ev)

    a = StreamConsumer(stream, group, "a", crashing, redis=r, block_ms=10, claim_idle_ms=1)
    b = StreamConsumer(stream, group, "b", working, redis=r, block_ms=10, claim_idle_ms=1)

    assert await a.run_once() == 0
    assert failed == [event]
    assert await pending_count(r, stream, group) == 1

    async def b_handled_it() -> bool:
        await b.run_once()
        return done.done()

    await until(b_handled_it)
    assert await asyncio.wait_for(done, WAIT) == event
    assert await pending_count(r, stream, group) == 0


async def test_a_poison_entry_ends_in_the_dead_letter_stream_after_max_deliveries(
    r: aioredis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    stream, group = unique("jobs"), "workers"
    event = KnowledgeSourceQueued(workspace_id=1, document_id=666)
    entry_id = await enqueue(stream, event, redis=r)
    attempts: list[Event] = []

    async def always_fails(ev: Event) -> None:
        attempts.append(ev)
        raise ValueError("cannot ingest this")

    consumer = StreamConsumer(
        stream, group, "a", always_fails, redis=r, block_ms=10, claim_idle_ms=1, max_deliveries=3
    )

    async def dead_lettered() -> bool:
        await consumer.run_once()
        return int(await r.xlen(dead_letter_key(stream))) > 0

    with caplog.at_level(logging.ERROR, logger="backend_services.core.events"):
        await until(dead_lettered)

    assert len(attempts) == 3
    assert await pending_count(r, stream, group) == 0
    [(_, fields)] = await r.xrange(dead_letter_key(stream))
    assert decode(fields["event"]) == event
    assert fields["source_id"] == entry_id
    assert fields["deliveries"] == "4"
    assert any(dead_letter_key(stream) in rec.getMessage() for rec in caplog.records)
    assert await consumer.run_once() == 0
    assert len(attempts) == 3


async def test_run_forever_handles_entries_until_stopped(r: aioredis.Redis) -> None:
    stream, group = unique("jobs"), "workers"
    got: asyncio.Queue[Event] = asyncio.Queue()

    async def handler(ev: Event) -> None:
        await got.put(ev)

    consumer = StreamConsumer(stream, group, "a", handler, redis=r, block_ms=50)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run_forever(stop))
    try:
        event = KnowledgeSourceQueued(workspace_id=1, document_id=1)
        await enqueue(stream, event, redis=r)
        assert await asyncio.wait_for(got.get(), WAIT) == event
    finally:
        stop.set()
        await asyncio.wait_for(task, WAIT)
    assert await pending_count(r, stream, group) == 0


async def test_a_batch_consumer_gets_a_burst_in_one_call_and_a_failed_batch_comes_back_whole(
    r: aioredis.Redis,
) -> None:
    """The live-update consumer coalesces: a burst read together reaches its handler as one
    list (so a dialog changed five times is refreshed once); when the handler raises, every
    entry of the batch stays pending and is redelivered, none is lost or half-acknowledged."""
    stream, group = unique("dialogs"), "web-live"
    sent = [KnowledgeSourceQueued(workspace_id=1, document_id=n % 2) for n in range(6)]
    for event in sent:
        await enqueue(stream, event, redis=r)
    calls: list[list[Event]] = []
    fail = {"now": True}

    async def handler(batch: list[Event]) -> None:
        calls.append(batch)
        if fail["now"]:
            raise RuntimeError("refresh failed")

    consumer = BatchStreamConsumer(stream, group, "a", handler, redis=r, block_ms=10,
                                   claim_idle_ms=1)
    assert await consumer.run_once() == 0
    assert calls == [sent]
    assert await pending_count(r, stream, group) == 6

    fail["now"] = False

    async def redelivered() -> bool:
        return await consumer.run_once() > 0

    await until(redelivered)
    assert sorted(e.id for e in calls[-1]) == sorted(e.id for e in sent)
    assert await pending_count(r, stream, group) == 0
    assert await consumer.run_once() == 0
