"""Telegram send limits shared by every fleet worker through Redis.

Telegram allows a bot about one message per second in a chat, twenty per minute in a
group and thirty per second overall, and answers 429 with `retry_after` beyond that.
Every worker process (on any host) reserves a slot here before each `sendMessage`, so the
limits hold for the fleet as a whole, not per process.

Algorithm: a sliding log per limit (a sorted set of reservation times) checked and
updated by one Lua script, so a reservation is atomic across all the limits it touches:
either every limit has room and the send is recorded in all of them, or nothing is
recorded and the caller learns how long to wait. The log is exact: in no window of the
limit's length, wherever it starts, are there more reservations than the limit (a fixed
window would allow twice the limit across a window edge; GCRA with a burst would allow
the burst plus the refill in one window). Time is Redis's own clock (`TIME`), so workers on
hosts with skewed clocks still agree. A 429 pauses the whole bot (`pause_bot`): the
pause key is checked in the same script, so every worker sees it at once.

A slot is reserved before the request leaves and settled when it returns (`sending`): the
reservation's time moves to the answer's, so the chat's next send waits a full window
after Telegram had this one, however long the request took to leave. Reserving alone was
not enough: on a loaded host one request left 0.26 s after its reservation and the next
on time, and they reached the server 0.79 s apart.

The `limits` library (used elsewhere) checks one limit per call and has no "how long to
wait" without reserving, so a send that passes the chat limit but fails the bot limit
would still consume a chat slot: hence this script. Keys of one bot share a Redis Cluster
hash tag (`{tg:<bot>}`), so the script runs on one node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis.asyncio as aioredis

from backend_services.core.errors import RateLimited
from backend_services.core.redis_client import get_redis
from backend_services.core.settings import get_settings

log = logging.getLogger("replyx.telegram.limiter")

_PREFIX = "replyx:tg"

# KEYS[1] the bot's pause key, KEYS[2..] sliding logs; ARGV[1] a unique member, then for
# each log: its limit and its window in microseconds. Returns {wait_us, now_us}.
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local wait = 0
local paused = tonumber(redis.call('GET', KEYS[1]) or '0')
if paused > now then wait = paused - now end
for i = 2, #KEYS do
  local limit = tonumber(ARGV[2 * i - 2])
  local window = tonumber(ARGV[2 * i - 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', string.format('%.0f', now - window))
  local n = redis.call('ZCARD', KEYS[i])
  if n >= limit then
    local edge = redis.call('ZRANGE', KEYS[i], n - limit, n - limit, 'WITHSCORES')
    local w = tonumber(edge[2]) + window - now
    if w > wait then wait = w end
  end
end
if wait > 0 then return {wait, now} end
for i = 2, #KEYS do
  local window = tonumber(ARGV[2 * i - 1])
  redis.call('ZADD', KEYS[i], string.format('%.0f', now), ARGV[1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(window / 1000) + 1000)
end
return {0, now}
"""

# KEYS[1..] the logs a reservation was recorded in; ARGV[1] its member, then each log's
# window in microseconds. Moves the member to now (only forward, only if still logged).
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', 'GT', string.format('%.0f', now), ARGV[1])
  redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[i + 1]) / 1000) + 1000)
end
return now
"""

# KEYS[1] the pause key; ARGV[1] the pause in microseconds. A longer pause already set
# wins. Returns the pause's end in microseconds of Redis time.
_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local till = now + tonumber(ARGV[1])
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > till then till = current end
redis.call('SET', KEYS[1], string.format('%.0f', till), 'PX', math.ceil((till - now) / 1000) + 1)
return till
"""

# Remaining pause in microseconds (0 when none).
_PAUSED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local till = tonumber(redis.call('GET', KEYS[1]) or '0')
if till > now then return till - now end
return 0
"""


_SCRIPTS: dict[str, Any] = {}


@dataclass(frozen=True)
class Rule:
    """At most `count` sends in any `window` seconds; a count of 0 or less is no limit."""

    count: int
    window: float

    @property
    def active(self) -> bool:
        return self.count > 0 and self.window > 0


@dataclass(frozen=True)
class Reservation:
    """The answer of one attempt: `wait` is 0.0 when a slot was reserved at `at_us`, else
    the seconds to wait (nothing was reserved). `at_us` is Redis time in microseconds since
    the epoch, the clock every limit is kept in."""

    wait: float
    at_us: int
    member: str = ""

    @property
    def reserved(self) -> bool:
        return self.wait == 0.0

    @property
    def at(self) -> float:
        return self.at_us / 1_000_000


@dataclass
class Slot:
    """A reserved send: when it was reserved and, after the send, when it was settled."""

    reservation: Reservation
    settled_at_us: int | None = None


def _us(seconds: float) -> int:
    return max(0, math.ceil(seconds * 1_000_000))


class TelegramLimiter:
    """The three Telegram limits over one Redis; the module functions use one built from
    settings. Separate instances over the same Redis share the same slots."""

    def __init__(
        self,
        redis: aioredis.Redis | None = None,
        *,
        per_chat: Rule = Rule(1, 1.0),
        per_group: Rule = Rule(20, 60.0),
        per_bot: Rule = Rule(30, 1.0),
    ) -> None:
        self._redis = redis
        self.per_chat = per_chat
        self.per_group = per_group
        self.per_bot = per_bot

    def _client(self) -> aioredis.Redis:
        return self._redis if self._redis is not None else get_redis()

    async def _run(self, source: str, keys: list[str], args: list[str]) -> Any:
        # A Script knows its SHA and reloads itself after a server restart (NOSCRIPT);
        # the client is passed per call so a replaced client is never held on to.
        client = self._client()
        script = _SCRIPTS.get(source)
        if script is None:
            script = _SCRIPTS[source] = client.register_script(source)
        return await script(keys=keys, args=args, client=client)

    @staticmethod
    def _pause_key(bot_id: int) -> str:
        return f"{_PREFIX}:{{tg:{bot_id}}}:pause"

    def _logs(self, bot_id: int, chat_id: int, is_group: bool) -> list[tuple[str, Rule]]:
        tag = f"{_PREFIX}:{{tg:{bot_id}}}"
        logs = [
            (f"{tag}:chat:{chat_id}", self.per_chat),
            (f"{tag}:bot", self.per_bot),
        ]
        if is_group:
            logs.append((f"{tag}:group:{chat_id}", self.per_group))
        return [(key, rule) for key, rule in logs if rule.active]

    async def try_reserve(self, bot_id: int, chat_id: int, *, is_group: bool) -> Reservation:
        """Reserve one send of `bot_id` to `chat_id` if every limit (and no pause) allows
        it now; otherwise reserve nothing and say how long to wait."""
        logs = self._logs(bot_id, chat_id, is_group)
        member = uuid.uuid4().hex
        args: list[str] = [member]
        for _, rule in logs:
            args += [str(rule.count), str(_us(rule.window))]
        wait_us, now_us = await self._run(
            _RESERVE, [self._pause_key(bot_id), *(key for key, _ in logs)], args)
        return Reservation(wait=int(wait_us) / 1_000_000, at_us=int(now_us), member=member)

    async def settle(self, bot_id: int, chat_id: int, got: Reservation, *,
                     is_group: bool) -> int:
        """The request of reservation `got` returned: count its slot from now. Returns
        the new time (microseconds of Redis time)."""
        logs = self._logs(bot_id, chat_id, is_group)
        if not logs or not got.member:
            return got.at_us
        now = await self._run(_SETTLE, [key for key, _ in logs],
                              [got.member, *(str(_us(rule.window)) for _, rule in logs)])
        return int(now)

    @contextlib.asynccontextmanager
    async def sending(self, bot_id: int, chat_id: int, *, is_group: bool,
                      max_wait: float = 60.0) -> AsyncIterator[Slot]:
        """Wait for a slot (as `until_allowed`), run the send inside, then settle the slot.
        Settling never raises: the send already happened, and a caller that saw an error
        here would send the message again."""
        got = await self.until_allowed(bot_id, chat_id, is_group=is_group, max_wait=max_wait)
        slot = Slot(got)
        try:
            yield slot
        finally:
            try:
                slot.settled_at_us = await self.settle(bot_id, chat_id, got,
                                                       is_group=is_group)
            except Exception:
                log.warning("settling a Telegram send slot failed; it counts from its "
                            "reservation", exc_info=True)

    async def reserve(self, bot_id: int, chat_id: int, *, is_group: bool) -> float:
        """0.0 when a send slot was reserved, else the seconds to wait (none reserved)."""
        return (await self.try_reserve(bot_id, chat_id, is_group=is_group)).wait

    async def until_allowed(
        self, bot_id: int, chat_id: int, *, is_group: bool, max_wait: float = 60.0
    ) -> Reservation:
        """Wait for a slot and reserve it; returns the reservation. Raises RateLimited
        (nothing reserved) when the wait would pass `max_wait` seconds in total, e.g. a
        long pause after a 429, so the caller can put the message back instead of holding
        its lease."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            got = await self.try_reserve(bot_id, chat_id, is_group=is_group)
            if got.reserved:
                return got
            waited = loop.time() - started
            if waited + got.wait > max_wait:
                raise RateLimited("Telegram limits this bot now; try later.",
                                  retry_after=max(1, math.ceil(got.wait)))
            await asyncio.sleep(got.wait)

    async def pause_bot(self, bot_id: int, seconds: float) -> int:
        """Stop every send of this bot, in every worker, for `seconds` (Telegram's
        `retry_after`); a longer pause already in force is kept. Returns when the pause
        ends, in Redis time (microseconds since the epoch, like `Reservation.at_us`)."""
        till = await self._run(_PAUSE, [self._pause_key(bot_id)], [str(_us(seconds))])
        return int(till)

    async def paused_for(self, bot_id: int) -> float:
        """Seconds left of this bot's pause (0.0 when it may send)."""
        left = await self._run(_PAUSED, [self._pause_key(bot_id)], [])
        return int(left) / 1_000_000


JITTER_MARGIN = 0.05


@lru_cache(maxsize=1)
def _default() -> TelegramLimiter:
    s = get_settings()
    # Slots are reserved before the request leaves; requests then reach Telegram with a
    # few milliseconds of jitter, so two sends reserved exactly 1.0 s apart could arrive
    # 0.985 s apart (bench/fleet_load.py). The windows carry a margin for that.
    margin = 1.0 + JITTER_MARGIN
    return TelegramLimiter(
        per_chat=Rule(s.telegram_chat_messages_per_second, 1.0 * margin),
        per_group=Rule(s.telegram_group_messages_per_minute, 60.0 * margin),
        per_bot=Rule(s.telegram_bot_messages_per_second, 1.0 * margin),
    )


def default_limiter() -> TelegramLimiter:
    """The limiter configured by settings, over the process's shared Redis client."""
    return _default()


def reset_default_limiter() -> None:
    """Forget the configured limiter (tests change settings; the Redis client is reset)."""
    _default.cache_clear()


async def reserve(bot_id: int, chat_id: int, *, is_group: bool) -> float:
    """0.0 when a send slot was reserved, else the seconds to wait (none reserved)."""
    return await default_limiter().reserve(bot_id, chat_id, is_group=is_group)


async def until_allowed(
    bot_id: int, chat_id: int, *, is_group: bool, max_wait: float = 60.0
) -> Reservation:
    """Wait for and reserve a slot; RateLimited past `max_wait` seconds."""
    return await default_limiter().until_allowed(bot_id, chat_id, is_group=is_group,
                                                 max_wait=max_wait)


def sending(bot_id: int, chat_id: int, *, is_group: bool,
            max_wait: float = 60.0) -> contextlib.AbstractAsyncContextManager[Slot]:
    """Reserve a slot, send inside the block, settle it after (see the module doc)."""
    return default_limiter().sending(bot_id, chat_id, is_group=is_group, max_wait=max_wait)


async def pause_bot(bot_id: int, seconds: float) -> int:
    """After a 429: pause the bot's sends everywhere for `retry_after` seconds."""
    return await default_limiter().pause_bot(bot_id, seconds)


async def paused_for(bot_id: int) -> float:
    return await default_limiter().paused_for(bot_id)
