"""Telegram send limits shared through Redis by every fleet worker: per chat, per group,
per bot, and the pause after a 429.

Each "worker" here is its own limiter over its own Redis connection, as separate fleet
processes are; several tasks per worker contend at once. Reservation times are Redis's
own clock (the one the limits are kept in), so the checks below are exact counts per
window, not timings.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
import redis.asyncio as aioredis

from backend_services.channels.telegram import limiter
from backend_services.channels.telegram.limiter import Reservation, Rule, TelegramLimiter
from backend_services.core.errors import RateLimited

SECOND_US = 1_000_000

MakeWorker = Callable[..., TelegramLimiter]


@pytest_asyncio.fixture
async def workers(clean: None) -> AsyncIterator[MakeWorker]:
    """Build limiters that each hold their own Redis connection, like separate processes."""
    clients: list[aioredis.Redis] = []

    def make(**rules: Rule) -> TelegramLimiter:
        client = aioredis.from_url(os.environ["REDIS_URL"], decode_responses=True)
        clients.append(client)
        return TelegramLimiter(client, **rules)

    yield make
    for client in clients:
        await client.aclose()


def _violations(times_us: list[int], rule: Rule) -> list[tuple[int, int]]:
    """Pairs of reservations closer than the rule's window with more than `count` sends
    from the first to the last: any such pair is a window holding count + 1 sends."""
    times = sorted(times_us)
    window = round(rule.window * SECOND_US)
    return [(times[i], times[i + rule.count]) for i in range(len(times) - rule.count)
            if times[i + rule.count] - times[i] < window]


async def _hammer(
    workers: list[TelegramLimiter], total: int, target: Callable[[int], tuple[int, int, bool]],
    tasks_per_worker: int = 4,
) -> list[Reservation]:
    """Every worker runs several senders at once until `total` sends were reserved; each
    sender waits as the limiter tells it (until_allowed). `target(n)` names the n-th send's
    (bot, chat, is_group)."""
    got: list[Reservation] = []
    counter = iter(range(10**9))

    async def sender(w: TelegramLimiter) -> None:
        while len(got) < total:
            bot, chat, group = target(next(counter))
            got.append(await w.until_allowed(bot, chat, is_group=group, max_wait=30))

    await asyncio.gather(*(sender(w) for w in workers for _ in range(tasks_per_worker)))
    return got


async def test_two_workers_hammering_one_chat_send_at_most_one_message_a_second(
    workers: MakeWorker,
) -> None:
    a, b = workers(), workers()
    got = await _hammer([a, b], total=4, target=lambda n: (111, 5001, False))

    rule = Rule(1, 1.0)
    assert len(got) >= 4
    assert _violations([r.at_us for r in got], rule) == []


async def test_two_workers_sending_to_many_chats_keep_a_bot_under_30_messages_a_second(
    workers: MakeWorker,
) -> None:
    a, b = workers(), workers()
    # Every send goes to a new chat: only the bot-wide limit can hold them back.
    got = await _hammer([a, b], total=75, target=lambda n: (222, 10_000 + n, False),
                        tasks_per_worker=20)

    assert len(got) >= 75
    assert _violations([r.at_us for r in got], Rule(30, 1.0)) == []


async def test_a_bot_may_send_its_whole_allowance_at_once(workers: MakeWorker) -> None:
    # The limit is a ceiling, not a trickle: 30 chats get their answer without waiting.
    w = workers(per_bot=Rule(30, 60.0))
    assert [await w.reserve(3, chat, is_group=False) for chat in range(30)] == [0.0] * 30
    assert await w.reserve(3, 30, is_group=False) > 50.0


async def test_a_group_chat_gets_at_most_its_share_per_window_across_workers(
    workers: MakeWorker,
) -> None:
    # Scaled down (5 per second instead of 20 per minute) so the test takes seconds.
    rules = {"per_chat": Rule(1, 0.05), "per_group": Rule(5, 1.0), "per_bot": Rule(30, 1.0)}
    a, b = workers(**rules), workers(**rules)
    got = await _hammer([a, b], total=12, target=lambda n: (333, -100_777, True))

    times = [r.at_us for r in got]
    assert _violations(times, rules["per_group"]) == []
    assert _violations(times, rules["per_chat"]) == []


async def test_a_private_chat_is_not_held_back_by_the_group_limit(workers: MakeWorker) -> None:
    w = workers(per_chat=Rule(1, 60.0), per_group=Rule(2, 60.0), per_bot=Rule(30, 60.0))
    assert await w.reserve(1, -200, is_group=True) == 0.0
    assert await w.reserve(1, -201, is_group=True) == 0.0
    assert await w.reserve(1, -201, is_group=True) > 0.0  # that group's chat limit
    assert await w.reserve(1, 300, is_group=False) == 0.0
    # A third message in the first group waits for the group window, not a second.
    w2 = workers(per_chat=Rule(1, 0.001), per_group=Rule(1, 60.0), per_bot=Rule(30, 1.0))
    assert await w2.reserve(2, -500, is_group=True) == 0.0
    wait = await w2.reserve(2, -500, is_group=True)
    assert 50.0 < wait <= 60.0


async def test_a_refused_send_reserves_nothing_in_any_limit(workers: MakeWorker) -> None:
    w = workers(per_chat=Rule(1, 60.0), per_bot=Rule(2, 60.0))
    assert await w.reserve(7, 1, is_group=False) == 0.0
    # Refused by the chat limit: the bot-wide slot it would have used stays free.
    assert await w.reserve(7, 1, is_group=False) > 0.0
    assert await w.reserve(7, 1, is_group=False) > 0.0
    assert await w.reserve(7, 2, is_group=False) == 0.0
    # Now the bot is full: a fresh chat waits, and that wait took no chat slot either.
    assert await w.reserve(7, 3, is_group=False) > 0.0
    other_bot = await w.reserve(8, 3, is_group=False)
    assert other_bot == 0.0


async def test_a_429_pause_blocks_that_bot_in_every_worker_and_no_other_bot(
    workers: MakeWorker,
) -> None:
    a, b = workers(), workers()
    pause_end = await a.pause_bot(444, 60)

    # Worker b sees the pause at once; a later 429 with a shorter retry_after keeps it.
    assert 59.0 < await b.reserve(444, 2, is_group=False) <= 60.0
    assert await b.pause_bot(444, 1) == pause_end
    assert 59.0 < await a.paused_for(444) <= 60.0
    # Another bot, in either worker, sends as usual.
    assert await b.reserve(555, 2, is_group=False) == 0.0
    assert await a.reserve(556, 2, is_group=False) == 0.0


async def test_sends_of_a_paused_bot_resume_only_after_the_pause_ends(
    workers: MakeWorker,
) -> None:
    a, b = workers(), workers()
    pause_end = await a.pause_bot(444, 0.5)

    got = await _hammer([a, b], total=6, target=lambda n: (444, 100 + n, False),
                        tasks_per_worker=3)

    assert min(r.at_us for r in got) >= pause_end
    assert await a.paused_for(444) == 0.0


async def test_a_longer_pause_than_the_caller_will_wait_is_refused_without_a_reservation(
    workers: MakeWorker,
) -> None:
    w = workers(per_bot=Rule(1, 60.0))
    await w.pause_bot(9, 1.0)
    with pytest.raises(RateLimited) as refused:
        await w.until_allowed(9, 1, is_group=False, max_wait=0.2)
    assert refused.value.retry_after == 1
    # The refusal took nothing: the bot's one slot per minute is still there after the
    # pause (had it been taken, this would have to wait a minute and be refused too).
    got = await w.until_allowed(9, 1, is_group=False, max_wait=5)
    assert got.reserved


async def test_the_configured_limits_apply_to_the_module_functions(
    clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backend_services.core.settings import reset_settings_cache

    monkeypatch.setenv("REPLYX_TELEGRAM_CHAT_MESSAGES_PER_SECOND", "0")  # no chat limit
    monkeypatch.setenv("REPLYX_TELEGRAM_GROUP_MESSAGES_PER_MINUTE", "2")
    reset_settings_cache()
    limiter.reset_default_limiter()
    try:
        assert await limiter.reserve(10, -1, is_group=True) == 0.0
        assert await limiter.reserve(10, -1, is_group=True) == 0.0
        assert 50.0 < await limiter.reserve(10, -1, is_group=True) <= 60.0 * (
            1 + limiter.JITTER_MARGIN)  # the window carries a margin for network jitter
        assert await limiter.reserve(10, 1, is_group=False) == 0.0
        await limiter.pause_bot(11, 60)
        assert await limiter.paused_for(11) > 50.0
        assert await limiter.reserve(11, 1, is_group=False) > 50.0
        got = await limiter.until_allowed(12, 1, is_group=False)
        assert got.reserved
        with pytest.raises(RateLimited):
            await limiter.until_allowed(11, 1, is_group=False, max_wait=1)
    finally:
        monkeypatch.undo()
        reset_settings_cache()
        limiter.reset_default_limiter()


async def test_a_chat_s_next_send_waits_a_full_window_after_the_previous_send_returned(
    workers: MakeWorker,
) -> None:
    """Telegram counts a message when it arrives, not when we reserved its slot: a request
    that leaves late (a busy host) must push the chat's next send back by as much."""
    w = workers(per_chat=Rule(1, 1.0), per_bot=Rule(30, 1.0))
    redis = w._client()
    async with w.sending(21, 5, is_group=False) as slot:
        # A request still on its way while Redis's clock (the limits' clock) moves 0.3 s on.
        while True:
            seconds, micros = await redis.time()
            if seconds * SECOND_US + micros >= slot.reservation.at_us + 300_000:
                break
            await asyncio.sleep(0.01)  # poll: Redis time has to pass the mark
    assert slot.settled_at_us is not None
    assert slot.settled_at_us - slot.reservation.at_us >= 300_000

    following = await w.until_allowed(21, 5, is_group=False, max_wait=5)
    assert following.at_us - slot.settled_at_us >= SECOND_US
    assert await w.reserve(21, 6, is_group=False) == 0.0  # other chats are not held back
