"""Typed events over Redis (Valkey): pub/sub for fan-out, Streams for once-only work.

Why two transports: every web worker must learn that a dialog changed (so it can refresh
the states of its own clients), which is fan-out and may be lossy because PostgreSQL stays
the source of truth. Work such as "embed this document" must happen exactly once across
all replicas and survive a crash, which needs a consumer group with acknowledgements.

Events carry ids only. A reader reloads what it needs from PostgreSQL, so an event can
never show data that was rolled back, and nothing secret or large travels through Redis.
Publish or enqueue only after the transaction that produced the change has committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

import redis.asyncio as aioredis
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator
from redis.exceptions import ResponseError
from redis.typing import EncodableT, FieldT

from backend_services.core.redis_client import get_redis

logger = logging.getLogger(__name__)

CHANNEL_PREFIX = "replyx:ev:"
STREAM_PREFIX = "replyx:stream:"

# Type names become parts of channel names; a ':' would let a type such as "ws:1" read
# like a workspace channel, so keep them to dotted lowercase words.
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")

# Pub/sub reads wait at most this long per round so the client's socket_timeout never
# fires on a quiet channel and redis-py gets a chance to send its health-check PING.
_POLL_SECONDS = 1.0
_SUBSCRIBE_CONFIRM_SECONDS = 10.0


class EventDecodeError(ValueError):
    """Raised for a payload that cannot become an event, so callers catch one error type."""


class UnknownEvent(EventDecodeError):
    """A payload names a type this process does not know (e.g. from a newer release)."""

    def __init__(self, type_name: str) -> None:
        self.type_name = type_name
        known = ", ".join(sorted(_REGISTRY)) or "none"
        super().__init__(f"unknown event type {type_name!r} (known: {known})")


_REGISTRY: dict[str, type[Event]] = {}


class Event(BaseModel):
    """Base of every event; a subclass with its own `type` is registered for `decode`.

    Frozen so that a handler cannot change what the next handler of the same event sees.
    Unknown fields are ignored so that an older reader accepts events from a newer writer
    during a rolling deploy.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: ClassVar[str]

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    workspace_id: int | None

    @field_validator("occurred_at")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        # One zone everywhere, so events compare and sort the same in every process.
        return value.astimezone(UTC)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__dict__.get("type")
        if name is None:
            return  # an intermediate base; nothing can be decoded into it
        if not isinstance(name, str) or not _TYPE_NAME.match(name):
            raise TypeError(f"{cls.__name__}.type must be a dotted lowercase name, got {name!r}")
        other = _REGISTRY.get(name)
        if other is not None and other.__qualname__ != cls.__qualname__:
            raise TypeError(f"event type {name!r} is used by {other.__name__} and {cls.__name__}")
        _REGISTRY[name] = cls

    def to_json(self) -> str:
        return encode(self)


class UserAccessChanged(Event):
    """What a user may see changed: signed out, removed from a workspace, role changed,
    blocked, password reset. Live views re-check that user's open tabs at once
    (backend_services/identity/access_events.py).

    workspace_id is None when the change is platform-wide rather than one membership.
    """

    type: ClassVar[str] = "user.access_changed"
    workspace_id: int | None = None
    user_id: int
    reason: str = ""


def encode(event: Event) -> str:
    """The wire form carries `type` next to the fields so that `decode` can pick the class."""
    if type(event).__dict__.get("type") is None:
        raise TypeError(f"{type(event).__name__} has no event type of its own")
    return json.dumps({"type": event.type, **event.model_dump(mode="json")}, separators=(",", ":"))


def decode(raw: str | bytes) -> Event:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise EventDecodeError(f"event payload is not JSON: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise EventDecodeError("event payload has no string 'type' key")
    name = data.pop("type")
    cls = _REGISTRY.get(name)
    if cls is None:
        raise UnknownEvent(name)
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise EventDecodeError(f"invalid {name!r} event: {exc}") from exc


def type_channel(type_name: str) -> str:
    return f"{CHANNEL_PREFIX}{type_name}"


def workspace_channel(workspace_id: int) -> str:
    return f"{CHANNEL_PREFIX}ws:{workspace_id}"


def stream_key(stream: str) -> str:
    return f"{STREAM_PREFIX}{stream}"


def dead_letter_key(stream: str) -> str:
    return f"{STREAM_PREFIX}{stream}:dead"


def _client(redis: aioredis.Redis | None) -> aioredis.Redis:
    # Resolved at call time so modules can be imported before settings are known.
    return redis if redis is not None else get_redis()


def _type_name(cls: type[Event]) -> str:
    name = cls.__dict__.get("type")
    if not isinstance(name, str):
        raise TypeError(f"{cls.__name__} is not a concrete event type")
    return name


# ---------------------------------------------------------------- fan-out (pub/sub)


async def publish(event: Event, redis: aioredis.Redis | None = None) -> int:
    """Tell every live listener; returns how many subscriptions received it.

    Pub/sub keeps nothing for absent listeners: use it for "refresh your view", never
    for work that must happen (that is `enqueue`). Both channels go out in one round trip
    so a workspace listener and a type listener see the event at about the same time.
    """
    r = _client(redis)
    payload = encode(event)
    async with r.pipeline(transaction=False) as pipe:
        pipe.publish(type_channel(event.type), payload)
        if event.workspace_id is not None:
            pipe.publish(workspace_channel(event.workspace_id), payload)
        results = await pipe.execute()
    return sum(int(n) for n in results)


class Subscription:
    """Async iterator over decoded events of one subscription.

    Payloads that cannot be decoded are logged and skipped rather than raised: one event
    from a newer release must not kill a listener that serves many clients.
    """

    def __init__(
        self,
        pubsub: Any,
        types: frozenset[str],
        workspace_id: int | None,
        buffered: deque[dict[str, Any]],
    ) -> None:
        self._pubsub = pubsub
        self._types = types
        self._workspace_id = workspace_id
        self._buffered = buffered
        self._closed = False

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while True:
            if self._closed:
                raise StopAsyncIteration
            if self._buffered:
                message: dict[str, Any] | None = self._buffered.popleft()
            else:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=_POLL_SECONDS
                )
            if message is None or message.get("type") != "message":
                continue
            try:
                event = decode(message["data"])
            except EventDecodeError as exc:
                logger.warning("skipping event on %s: %s", message.get("channel"), exc)
                continue
            if self._types and event.type not in self._types:
                continue
            # The workspace channel already isolates tenants; checking again costs nothing
            # and keeps a mis-published event from crossing a tenant boundary.
            if self._workspace_id is not None and event.workspace_id != self._workspace_id:
                continue
            return event

    def _close(self) -> None:
        self._closed = True


@contextlib.asynccontextmanager
async def subscribe(
    *types: type[Event],
    workspace_id: int | None = None,
    redis: aioredis.Redis | None = None,
) -> AsyncIterator[Subscription]:
    """Listen for events of the given types, or of one workspace (optionally filtered by type).

    With a workspace, only that workspace's channel is joined so other tenants' events never
    reach this process; types then filter locally. Without one, the per-type channels are
    joined. The context is entered only once Redis has confirmed every channel, so an event
    published right after entering is not missed. Pub/sub loses what is sent while a
    connection is down: after an error, re-subscribe and reload from PostgreSQL.
    """
    names = frozenset(_type_name(t) for t in types)
    if workspace_id is not None:
        channels = [workspace_channel(workspace_id)]
    elif names:
        channels = sorted(type_channel(n) for n in names)
    else:
        raise ValueError("subscribe() needs event types, a workspace_id, or both")

    # redis-py leaves PubSub largely unannotated; Any keeps mypy --strict quiet about it.
    pubsub: Any = _client(redis).pubsub()
    subscription: Subscription | None = None
    try:
        await pubsub.subscribe(*channels)
        waiting = set(channels)
        buffered: deque[dict[str, Any]] = deque()
        async with asyncio.timeout(_SUBSCRIBE_CONFIRM_SECONDS):
            while waiting:
                message = await pubsub.get_message(timeout=_POLL_SECONDS)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    waiting.discard(message["channel"])
                else:
                    buffered.append(message)
        subscription = Subscription(pubsub, names, workspace_id, buffered)
        yield subscription
    finally:
        if subscription is not None:
            subscription._close()
        # Closing drops the connection, which also ends the subscription server-side, and
        # works even when the connection is already broken (an UNSUBSCRIBE would not).
        await pubsub.aclose()


# ---------------------------------------------------------------- once-only work (streams)


async def enqueue(
    stream: str,
    event: Event,
    redis: aioredis.Redis | None = None,
    maxlen: int = 100_000,
) -> str:
    """Append work for exactly one consumer per group; returns the stream entry id.

    The approximate MAXLEN bounds memory if consumers are down for long; approximate
    trimming is much cheaper than exact, and a cap this large is never reached in normal
    operation.
    """
    entry_id = await _client(redis).xadd(
        stream_key(stream),
        {"type": event.type, "event": encode(event)},
        maxlen=maxlen,
        approximate=True,
    )
    return str(entry_id)


Handler = Callable[[Event], Awaitable[None]]


class StreamConsumer:
    """One member of a consumer group on `replyx:stream:<stream>`.

    Delivery is at least once: an entry is acknowledged only after its handler returned,
    and an entry left pending (handler raised, process died) is claimed again after
    `claim_idle_ms` by whichever consumer of the group asks first. Handlers must therefore
    be idempotent, and must finish well within `claim_idle_ms`, or another consumer will
    start the same work. An entry delivered more than `max_deliveries` times is a poison
    message: it is moved to `replyx:stream:<stream>:dead` so it stops blocking retries and
    stays available for inspection or replay.

    `block_ms` must stay below the Redis client's socket timeout, or a quiet stream would
    look like a dead connection.
    """

    def __init__(
        self,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        redis: aioredis.Redis | None = None,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 5,
        batch: int = 10,
        dead_maxlen: int = 100_000,
    ) -> None:
        if max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.handler = handler
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.batch = batch
        self.dead_maxlen = dead_maxlen
        self.key = stream_key(stream)
        self.dead_key = dead_letter_key(stream)
        self._redis = redis
        self._group_ready = False
        # XAUTOCLAIM scans the pending list in pages; remembering where the last page
        # ended lets a long pending list be covered across calls instead of rescanning it.
        self._claim_cursor = "0-0"

    async def run_once(self) -> int:
        """Reclaim stale entries, read new ones, handle them; returns how many succeeded."""
        r = _client(self._redis)
        await self._ensure_group(r)
        try:
            claimed = await self._claim(r)
            # Do not wait for new entries when there is reclaimed work to do now.
            fresh = await self._read_new(r, block=not claimed)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream key was deleted under us (e.g. flushed); recreate on the next call.
            logger.warning("consumer group %s on %s vanished; recreating", self.group, self.key)
            self._group_ready = False
            return 0

        entries: list[tuple[str, dict[str, str] | None]] = []
        for entry_id, fields, deliveries in claimed:
            if deliveries > self.max_deliveries:
                await self._dead_letter(r, entry_id, fields, deliveries)
            else:
                entries.append((entry_id, fields))
        return await self._handle(r, [*entries, *fresh])

    async def _handle(self, r: aioredis.Redis,
                      entries: list[tuple[str, dict[str, str] | None]]) -> int:
        handled = 0
        for entry_id, fields in entries:
            if await self._process(r, entry_id, fields):
                handled += 1
        return handled

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Loop until `stop` is set; Redis outages back off instead of ending the task.

        Stopping takes at most `block_ms` plus the handlers in flight: a blocked read is
        not cancelled, because cancelling mid-read would drop the connection for nothing.
        """
        delay = 0.0
        while not stop.is_set():
            try:
                await self.run_once()
                delay = 0.0
            except Exception:
                delay = min(max(delay * 2, 0.5), 30.0)
                logger.exception(
                    "consumer %s/%s on %s failed; retrying in %.1fs",
                    self.group,
                    self.consumer,
                    self.key,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _ensure_group(self, r: aioredis.Redis) -> None:
        if self._group_ready:
            return
        try:
            # From "0", not "$": work enqueued before the first consumer ever started must
            # still be done.
            await r.xgroup_create(self.key, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _claim(self, r: aioredis.Redis) -> list[tuple[str, dict[str, str] | None, int]]:
        result = await r.xautoclaim(
            self.key,
            self.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=self.batch,
        )
        self._claim_cursor = str(result[0])
        entries: list[tuple[str | None, dict[str, str] | None]] = result[1]
        claimed = [(eid, fields) for eid, fields in entries if eid is not None]
        if not claimed:
            return []
        # XAUTOCLAIM does not report delivery counts; XPENDING per id does, in one trip.
        async with r.pipeline(transaction=False) as pipe:
            for eid, _ in claimed:
                pipe.xpending_range(self.key, self.group, eid, eid, 1)
            infos = await pipe.execute()
        out: list[tuple[str, dict[str, str] | None, int]] = []
        for (eid, fields), info in zip(claimed, infos, strict=True):
            deliveries = int(info[0]["times_delivered"]) if info else 1
            out.append((eid, fields, deliveries))
        return out

    async def _read_new(
        self, r: aioredis.Redis, *, block: bool
    ) -> list[tuple[str, dict[str, str] | None]]:
        response = await r.xreadgroup(
            self.group,
            self.consumer,
            {self.key: ">"},
            count=self.batch,
            block=self.block_ms if block else None,
        )
        if not response:
            return []
        out: list[tuple[str, dict[str, str] | None]] = []
        for _key, entries in response:
            out.extend((eid, fields) for eid, fields in entries if eid is not None)
        return out

    async def _decode(
        self, r: aioredis.Redis, entry_id: str, fields: dict[str, str] | None
    ) -> Event | None:
        raw = fields.get("event") if fields else None
        if raw is None:
            # Not something enqueue() wrote; retrying cannot help.
            await self._dead_letter(r, entry_id, fields, deliveries=1)
            return None
        try:
            return decode(raw)
        except EventDecodeError:
            # Maybe a newer release's event: leave it pending so retries (possibly by an
            # upgraded consumer) get a chance before it is dead-lettered.
            logger.exception("cannot decode %s entry %s", self.key, entry_id)
            return None

    async def _process(
        self, r: aioredis.Redis, entry_id: str, fields: dict[str, str] | None
    ) -> bool:
        event = await self._decode(r, entry_id, fields)
        if event is None:
            return False
        try:
            await self.handler(event)
        except Exception:
            logger.exception(
                "handler failed on %s entry %s (%s); left pending for redelivery",
                self.key,
                entry_id,
                event.type,
            )
            return False
        await r.xack(self.key, self.group, entry_id)
        return True

    async def _dead_letter(
        self,
        r: aioredis.Redis,
        entry_id: str,
        fields: dict[str, str] | None,
        deliveries: int,
    ) -> None:
        # Keep the original fields so the entry can be replayed with enqueue() as it was.
        record: dict[FieldT, EncodableT] = {k: v for k, v in (fields or {}).items()}
        record.update(
            source_stream=self.key,
            source_id=entry_id,
            group=self.group,
            consumer=self.consumer,
            deliveries=str(deliveries),
        )
        # One transaction: the entry is never both dead-lettered and still pending, nor
        # acknowledged without having been copied.
        async with r.pipeline(transaction=True) as pipe:
            pipe.xadd(self.dead_key, record, maxlen=self.dead_maxlen, approximate=True)
            pipe.xack(self.key, self.group, entry_id)
            await pipe.execute()
        logger.error(
            "moved %s entry %s to %s after %d deliveries (group %s)",
            self.key,
            entry_id,
            self.dead_key,
            deliveries,
            self.group,
        )


BatchHandler = Callable[[list[Event]], Awaitable[None]]


class BatchStreamConsumer(StreamConsumer):
    """A consumer whose handler takes every entry read in one go.

    For work that can be coalesced: a burst of "dialog 7 changed" entries needs one
    refresh of dialog 7, not one per entry, and a consumer that handles entries one by
    one falls behind exactly when they arrive fastest (bench/widget_load.py). The whole
    batch is acknowledged together after the handler returned, or left pending together
    when it raised, so the handler must be idempotent over any subset it sees again.
    """

    def __init__(self, stream: str, group: str, consumer: str, handler: BatchHandler,
                 **kwargs: Any) -> None:
        kwargs.setdefault("batch", 200)
        super().__init__(stream, group, consumer, self._unused, **kwargs)
        self.batch_handler = handler

    @staticmethod
    async def _unused(event: Event) -> None:  # pragma: no cover - _handle is overridden
        raise NotImplementedError

    async def _handle(self, r: aioredis.Redis,
                      entries: list[tuple[str, dict[str, str] | None]]) -> int:
        decoded: list[tuple[str, Event]] = []
        for entry_id, fields in entries:
            event = await self._decode(r, entry_id, fields)
            if event is not None:
                decoded.append((entry_id, event))
        if not decoded:
            return 0
        try:
            await self.batch_handler([event for _, event in decoded])
        except Exception:
            logger.exception("batch handler failed on %d %s entries; left pending for "
                             "redelivery", len(decoded), self.key)
            return 0
        await r.xack(self.key, self.group, *[entry_id for entry_id, _ in decoded])
        return len(decoded)
