"""The provider pool against a real OpenAI-compatible server: streaming, limits, failover.

Real PostgreSQL and Valkey (`clean`), the real `openai` SDK, and a local HTTP server that
answers, rate-limits, refuses, errs, hangs or garbles per key and model. The client read
timeout is 1 s so hangs cost one second, and nothing waits on a fixed sleep.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from backend_services.ai import keys as ai_keys
from backend_services.ai.errors import AllProvidersFailed, NoUsableKeys, ProviderStreamBroken
from backend_services.ai.pool import (
    ChatDone,
    TextDelta,
    has_usable_keys,
    stream_chat,
)
from backend_services.core.db import session_scope
from backend_services.core.principal import Principal
from backend_services.core.redis_client import get_redis
from backend_services.identity import auth
from backend_services.models import AIProviderKey, AIUsage
from tests.support.openai_server import (
    Hang,
    Malformed,
    OpenAITestServer,
    QuotaExhausted,
    RateLimit,
    Reply,
    ServerError,
    Unauthorized,
)

PW = "Correct-horse-9"
TIMEOUT = 1.0
MESSAGES = [
    {"role": "system", "content": "You answer questions about the shop."},
    {"role": "user", "content": "When do you open on Sundays?"},
]


@pytest.fixture
async def admin(clean: None) -> Principal:
    """A platform admin with a workspace of their own (usage rows belong to a workspace)."""
    await auth.signup(email="root@example.com", password=PW, name="Root", workspace_name="Ops")
    await auth.create_user(
        email="root@example.com", password=PW, name="Root", workspace_id=None, platform_admin=True
    )
    return (await auth.login(email="root@example.com", password=PW)).principal


async def _key(
    admin: Principal,
    server: OpenAITestServer,
    secret: str,
    models: list[str] | None = None,
    rpm: int = 100,
    tpm: int = 100_000,
) -> int:
    view = await ai_keys.add_key(
        admin,
        f"key {secret}",
        server.base_url,
        secret,
        models if models is not None else [],
        rpm,
        tpm,
    )
    return view.id


async def _run(ws: int, models: list[str], **kw: Any) -> tuple[list[str], ChatDone]:
    deltas: list[str] = []
    done: ChatDone | None = None
    async for event in stream_chat(ws, models, MESSAGES, 0.2, 256, read_timeout=TIMEOUT, **kw):
        if isinstance(event, TextDelta):
            assert done is None, "text after the final event"
            deltas.append(event.text)
        else:
            done = event
    assert done is not None
    return deltas, done


async def _usage() -> list[tuple[int | None, str, str]]:
    async with session_scope() as s:
        rows = (await s.exec(select(AIUsage).order_by(col(AIUsage.id)))).all()
    return [(r.key_id, r.model, r.status) for r in rows]


async def _key_row(key_id: int) -> AIProviderKey:
    async with session_scope() as s:
        row = await s.get(AIProviderKey, key_id)
    assert row is not None
    return row


async def _seconds_until(moment: datetime | None) -> float:
    """Measured on the database clock, the one cooldowns are checked against."""
    assert moment is not None
    async with session_scope() as s:
        now = (await s.exec(sa.select(sa.func.now()))).one()[0]  # type: ignore[call-overload]
    return float((moment - now).total_seconds())


async def test_streams_text_in_pieces_and_records_usage(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(Reply(text="We open at ten on Sundays.", prompt_tokens=21, completion_tokens=7))
    key = await _key(admin, server, "sk-alpha-0001")
    deltas, done = await _run(admin.workspace_id, ["gpt-test"])

    assert len(deltas) > 3
    assert "".join(deltas) == done.text == "We open at ten on Sundays."
    assert (done.key_id, done.model, done.tokens_in, done.tokens_out) == (key, "gpt-test", 21, 7)
    assert not done.usage_estimated and done.failed_attempts == ()
    assert done.latency_ms >= 0 and done.first_token_ms is not None
    [call] = server.calls()
    assert call.key == "sk-alpha-0001" and call.stream
    assert call.messages == MESSAGES
    assert call.body["stream_options"] == {"include_usage": True}
    assert call.body["max_tokens"] == 256
    async with session_scope() as s:
        [row] = (await s.exec(select(AIUsage))).all()
    assert (row.workspace_id, row.key_id, row.model, row.status) == (
        admin.workspace_id,
        key,
        "gpt-test",
        "ok",
    )
    assert (row.tokens_in, row.tokens_out, row.message_id) == (21, 7, None)
    assert await has_usable_keys(["gpt-test"])


async def test_a_429_cools_the_key_down_for_retry_after_and_the_next_key_answers(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(RateLimit(retry_after="7"), key="sk-limited-01")
    limited = await _key(admin, server, "sk-limited-01")
    spare = await _key(admin, server, "sk-spare-0002")

    _, done = await _run(admin.workspace_id, ["gpt-test"])
    assert done.key_id == spare
    assert [a.status for a in done.failed_attempts] == ["rate_limited"]
    assert 5 <= await _seconds_until((await _key_row(limited)).cooldown_until) <= 7.5
    assert await _usage() == [(limited, "gpt-test", "rate_limited"), (spare, "gpt-test", "ok")]

    # The cooldown lives in PostgreSQL: the next call (any process) skips the key.
    _, again = await _run(admin.workspace_id, ["gpt-test"])
    assert again.key_id == spare and again.failed_attempts == ()
    assert len(server.calls(key="sk-limited-01")) == 1
    listed = {k.id: k for k in await ai_keys.list_keys(admin)}
    assert listed[limited].cooling_down and listed[limited].is_enabled


async def test_a_429_without_retry_after_cools_down_for_the_default(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(RateLimit(retry_after=None), key="sk-limited-01")
    limited = await _key(admin, server, "sk-limited-01")
    await _key(admin, server, "sk-spare-0002")
    await _run(admin.workspace_id, ["gpt-test"])
    assert 28 <= await _seconds_until((await _key_row(limited)).cooldown_until) <= 30.5


async def test_server_error_and_hang_fail_over_to_the_next_key(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(ServerError(500), key="sk-broken-001")
    server.script(Hang(), key="sk-hanging-01")
    broken = await _key(admin, server, "sk-broken-001")
    hanging = await _key(admin, server, "sk-hanging-01")
    good = await _key(admin, server, "sk-healthy-01")

    deltas, done = await _run(admin.workspace_id, ["gpt-test"])
    assert done.key_id == good and "".join(deltas) == done.text
    assert [a.status for a in done.failed_attempts] == ["server_error", "timeout"]
    assert await _usage() == [
        (broken, "gpt-test", "server_error"),
        (hanging, "gpt-test", "timeout"),
        (good, "gpt-test", "ok"),
    ]
    for key_id in (broken, hanging):
        assert 0 < await _seconds_until((await _key_row(key_id)).cooldown_until) <= 10.5
    assert (await _key_row(good)).cooldown_until is None


async def test_malformed_reply_fails_over(admin: Principal, server: OpenAITestServer) -> None:
    server.script(Malformed(), key="sk-garbled-01")
    garbled = await _key(admin, server, "sk-garbled-01")
    good = await _key(admin, server, "sk-healthy-01")
    _, done = await _run(admin.workspace_id, ["gpt-test"])
    assert done.key_id == good
    assert await _usage() == [(garbled, "gpt-test", "malformed"), (good, "gpt-test", "ok")]


async def test_quota_and_auth_errors_disable_the_key_and_it_is_never_retried(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(QuotaExhausted(), key="sk-no-money-1")
    server.script(Unauthorized(401), key="sk-revoked-01")
    broke = await _key(admin, server, "sk-no-money-1")
    revoked = await _key(admin, server, "sk-revoked-01")
    good = await _key(admin, server, "sk-healthy-01")

    for _ in range(3):
        _, done = await _run(admin.workspace_id, ["gpt-test"])
        assert done.key_id == good
    assert len(server.calls(key="sk-no-money-1")) == 1
    assert len(server.calls(key="sk-revoked-01")) == 1

    broke_row, revoked_row = await _key_row(broke), await _key_row(revoked)
    assert not broke_row.is_enabled and not revoked_row.is_enabled
    assert "quota is exhausted (insufficient_quota)" in broke_row.disabled_reason
    assert "refused this key" in revoked_row.disabled_reason
    assert "401" in revoked_row.disabled_reason and "invalid_api_key" in revoked_row.disabled_reason
    statuses = [s for k, _, s in await _usage() if k in (broke, revoked)]
    assert statuses == ["quota_exhausted", "auth_error"]


async def test_a_403_also_disables_the_key(admin: Principal, server: OpenAITestServer) -> None:
    server.script(Unauthorized(403), key="sk-forbidden1")
    forbidden = await _key(admin, server, "sk-forbidden1")
    await _key(admin, server, "sk-healthy-01")
    await _run(admin.workspace_id, ["gpt-test"])
    assert not (await _key_row(forbidden)).is_enabled


async def test_when_every_key_of_a_model_fails_the_next_model_answers(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(ServerError(502), key="sk-big-one-01")
    server.script(Hang(), key="sk-big-two-02")
    big1 = await _key(admin, server, "sk-big-one-01", models=["big"])
    big2 = await _key(admin, server, "sk-big-two-02", models=["big"])
    small = await _key(admin, server, "sk-small-0003", models=["small"])

    _, done = await _run(admin.workspace_id, ["big", "small"])
    assert (done.key_id, done.model) == (small, "small")
    assert [(a.model, a.key_id) for a in done.failed_attempts] == [("big", big1), ("big", big2)]
    assert [c.model for c in server.calls()] == ["big", "big", "small"]


async def test_a_request_the_model_refuses_skips_its_other_keys(
    admin: Principal, server: OpenAITestServer
) -> None:
    """A 400 (e.g. prompt too long) is about the request: other keys would refuse it too."""
    server.script(ServerError(400), model="big")
    await _key(admin, server, "sk-big-one-01", models=["big"])
    await _key(admin, server, "sk-big-two-02", models=["big"])
    await _key(admin, server, "sk-small-0003", models=["small"])
    _, done = await _run(admin.workspace_id, ["big", "small"])
    assert done.model == "small"
    assert [a.status for a in done.failed_attempts] == ["bad_request"]
    assert len(server.calls(model="big")) == 1


async def test_everything_failing_raises_a_summary_an_admin_can_read(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(ServerError(500), key="sk-broken-001")
    server.script(QuotaExhausted(), key="sk-no-money-1")
    await _key(admin, server, "sk-broken-001", models=["gpt-main"])
    await _key(admin, server, "sk-no-money-1", models=["gpt-main"])

    with pytest.raises(AllProvidersFailed) as caught:
        await _run(admin.workspace_id, ["gpt-main", "gpt-backup"])
    err = caught.value
    assert not isinstance(err, NoUsableKeys)
    text = err.message
    assert text.startswith("No AI provider could answer.")
    assert "gpt-main: key “key sk-broken-001” (#1): server error (HTTP 500" in text
    assert "key “key sk-no-money-1” (#2): quota exhausted; key disabled" in text
    assert "gpt-backup: no enabled key serves this model" in text
    assert "sk-broken-001" not in text.replace("key sk-broken-001", "")  # names, not secrets
    assert [(a.model, a.status) for a in err.attempts] == [
        ("gpt-main", "server_error"),
        ("gpt-main", "quota_exhausted"),
        ("gpt-backup", "no_key"),
    ]


async def test_no_usable_key_is_its_own_error_so_the_engine_can_answer_extractively(
    admin: Principal, server: OpenAITestServer
) -> None:
    assert not await has_usable_keys(["gpt-test"])
    with pytest.raises(NoUsableKeys, match="no enabled key serves this model"):
        await _run(admin.workspace_id, ["gpt-test"])
    await _key(admin, server, "sk-other-0001", models=["other-model"])
    assert not await has_usable_keys(["gpt-test"])
    assert await has_usable_keys(["gpt-test", "other-model"])
    assert server.calls() == []


async def test_requests_per_minute_limit_sends_work_to_the_other_key(
    admin: Principal, server: OpenAITestServer
) -> None:
    tight = await _key(admin, server, "sk-tight-0001", rpm=1)
    roomy = await _key(admin, server, "sk-roomy-0002", rpm=100)
    used = [(await _run(admin.workspace_id, ["gpt-test"]))[1].key_id for _ in range(3)]
    # Least recently used would go tight, roomy, tight; the limit turns the third to roomy.
    assert used == [tight, roomy, roomy]
    assert len(server.calls(key="sk-tight-0001")) == 1
    _, done = await _run(admin.workspace_id, ["gpt-test"])
    assert done.key_id == roomy
    assert [a.status for a in done.failed_attempts] == ["limited"]
    assert "1 requests per minute" in done.failed_attempts[0].detail


async def test_a_key_at_its_limit_alone_means_no_usable_key(
    admin: Principal, server: OpenAITestServer
) -> None:
    await _key(admin, server, "sk-tight-0001", rpm=1)
    await _run(admin.workspace_id, ["gpt-test"])
    with pytest.raises(NoUsableKeys, match="limit of 1 requests per minute is reached"):
        await _run(admin.workspace_id, ["gpt-test"])
    assert len(server.calls()) == 1


async def test_tokens_per_minute_limit_counts_what_the_provider_reported(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(Reply(prompt_tokens=300, completion_tokens=50))
    small = await _key(admin, server, "sk-small-tpm1", tpm=400)
    big = await _key(admin, server, "sk-big-tpm-02", tpm=100_000)
    used = [(await _run(admin.workspace_id, ["gpt-test"]))[1].key_id for _ in range(3)]
    assert used == [small, big, big]
    assert len(server.calls(key="sk-small-tpm1")) == 1


async def test_a_stream_that_breaks_after_text_is_not_failed_over(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(Reply(text="one two three four five", break_after=2), key="sk-flaky-0001")
    flaky = await _key(admin, server, "sk-flaky-0001")
    await _key(admin, server, "sk-healthy-01")
    seen: list[str] = []
    with pytest.raises(ProviderStreamBroken) as caught:
        async for event in stream_chat(
            admin.workspace_id, ["gpt-test"], MESSAGES, 0.2, 256, read_timeout=TIMEOUT
        ):
            assert isinstance(event, TextDelta)
            seen.append(event.text)
    assert "".join(seen) == caught.value.partial_text == "one two"
    assert caught.value.key_id == flaky
    assert "broke off" in caught.value.message
    assert len(server.calls(key="sk-healthy-01")) == 0
    assert await _usage() == [(flaky, "gpt-test", "timeout")]


async def test_a_garbled_line_mid_stream_is_a_broken_stream(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(Reply(text="one two three", break_after=1, break_with="malformed"))
    await _key(admin, server, "sk-flaky-0001")
    with pytest.raises(ProviderStreamBroken):
        await _run(admin.workspace_id, ["gpt-test"])
    assert [s for _, _, s in await _usage()] == ["malformed"]


async def test_load_spreads_over_keys_least_recently_used_first(
    admin: Principal, server: OpenAITestServer
) -> None:
    a = await _key(admin, server, "sk-spread-a01")
    b = await _key(admin, server, "sk-spread-b02")
    c = await _key(admin, server, "sk-spread-c03")
    used = [(await _run(admin.workspace_id, ["gpt-test"]))[1].key_id for _ in range(6)]
    assert used == [a, b, c, a, b, c]


async def test_a_lower_priority_number_is_tried_first_and_equal_ones_share(
    admin: Principal, server: OpenAITestServer
) -> None:
    backup = await _key(admin, server, "sk-backup-001")
    first = await _key(admin, server, "sk-first-0001")
    also = await _key(admin, server, "sk-also-00001")
    for key_id, priority in ((backup, 200), (first, 10), (also, 10)):
        row = await _key_row(key_id)
        await ai_keys.update_key(admin, key_id, ai_keys.KeySettings(
            row.name, row.base_url, [], row.requests_per_minute, row.tokens_per_minute,
            priority=priority))
    used = [(await _run(admin.workspace_id, ["gpt-test"]))[1].key_id for _ in range(4)]
    assert used == [first, also, first, also]
    await ai_keys.set_enabled(admin, first, False)
    await ai_keys.set_enabled(admin, also, False)
    assert (await _run(admin.workspace_id, ["gpt-test"]))[1].key_id == backup


async def test_a_key_past_its_daily_quota_is_skipped_even_after_redis_forgets(
    admin: Principal, server: OpenAITestServer
) -> None:
    server.script(Reply(prompt_tokens=300, completion_tokens=100))
    capped = await _key(admin, server, "sk-capped-001")
    spare = await _key(admin, server, "sk-spare-0002")
    row = await _key_row(capped)
    await ai_keys.update_key(admin, capped, ai_keys.KeySettings(
        row.name, row.base_url, [], 100, 100_000, priority=1, daily_token_quota=700))
    used = [(await _run(admin.workspace_id, ["gpt-test"]))[1].key_id for _ in range(3)]
    # 400 tokens a turn: the second turn takes the capped key past 700, the third skips it.
    assert used == [capped, capped, spare]
    _, done = await _run(admin.workspace_id, ["gpt-test"])
    assert done.key_id == spare
    assert "daily quota of 700 tokens is used up" in done.failed_attempts[0].detail
    listed = {k.id: k for k in await ai_keys.list_keys(admin)}
    assert listed[capped].status == "daily quota used" and listed[capped].tokens_today == 800

    await get_redis().flushdb()  # counters gone: the quota is re-read from ai_usage
    _, done = await _run(admin.workspace_id, ["gpt-test"])
    assert done.key_id == spare
    assert len(server.calls(key="sk-capped-001")) == 2


async def test_usage_is_estimated_when_the_provider_reports_none(
    admin: Principal, server: OpenAITestServer
) -> None:
    """Some local servers ignore stream_options; limits and billing still need a figure."""
    server.script(Reply(text="abcd efgh", send_usage=False))
    await _key(admin, server, "sk-local-0001")
    _, done = await _run(admin.workspace_id, ["gpt-test"])
    assert done.usage_estimated
    prompt_chars = len("\n".join(m["content"] for m in MESSAGES))
    assert (done.tokens_in, done.tokens_out) == (-(-prompt_chars // 4), 3)
    async with session_scope() as s:
        [row] = (await s.exec(select(AIUsage))).all()
    assert (row.tokens_in, row.tokens_out) == (done.tokens_in, done.tokens_out)


async def test_a_caller_that_stops_reading_still_gets_the_spent_tokens_counted(
    admin: Principal, server: OpenAITestServer
) -> None:
    """An operator taking over mid-answer closes the stream; the attempt is still recorded."""
    server.script(Reply(text="one two three four five six"))
    key = await _key(admin, server, "sk-stopped-01")
    events = stream_chat(admin.workspace_id, ["gpt-test"], MESSAGES, 0.2, 256, read_timeout=TIMEOUT)
    first = await anext(events)
    assert isinstance(first, TextDelta) and first.text == "one"
    await events.aclose()
    async with session_scope() as s:
        [row] = (await s.exec(select(AIUsage))).all()
    assert (row.key_id, row.status, row.tokens_out) == (key, "cancelled", 1)
    assert row.tokens_in > 0
