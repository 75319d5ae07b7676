"""The provider pool: which key answers, and what happens when a provider misbehaves.

Every provider speaks the OpenAI API (OpenAI, Azure, Ollama, vLLM, llama.cpp …) through
the `openai` SDK with the key's own `base_url`. The pool

- picks, for each model of the fallback chain, the enabled keys that serve it and are
  not cooling down, least recently used first, so load spreads across keys and processes;
- enforces each key's requests-per-minute and tokens-per-minute limits in Redis (a
  sliding one-minute window on the server's clock), shared by every process, so we stay
  under the provider's limits instead of collecting 429s;
- reacts to failures so one bad key never takes answers down: a 429 cools the key down
  for `retry-after` seconds (stored in PostgreSQL, honoured by every process), timeouts,
  connection errors, 5xx and malformed replies cool it down briefly, auth and quota
  errors disable it with a reason in plain words (retrying them only wastes time), and
  then the next key, then the next model, is tried;
- fails over only before the first text was handed on: a stream that breaks later raises
  `ProviderStreamBroken`, because silently restarting would repeat or contradict what the
  reader already saw;
- records one `ai_usage` row per attempt, so admins see errors per key, not only successes.

The SDK's own retries are off (`max_retries=0`): retrying the same key is exactly what
the pool must decide, not the client.
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
import weakref
from asyncio import AbstractEventLoop, get_running_loop
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, cast

import openai
import sqlalchemy as sa
from openai.types.chat import ChatCompletionMessageParam
from sqlmodel import col, select

from backend_services.ai.errors import (
    AllProvidersFailed,
    Attempt,
    NoUsableKeys,
    ProviderStreamBroken,
)
from backend_services.ai.pricing import Cost, cost
from backend_services.core.db import session_scope
from backend_services.core.redis_client import get_redis
from backend_services.core.security import decrypt_secret
from backend_services.core.settings import get_settings
from backend_services.models import AIProviderKey, AIUsage

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30.0
DEFAULT_RETRY_AFTER_SECONDS = 30
MAX_RETRY_AFTER_SECONDS = 3600
FAILURE_COOLDOWN_SECONDS = 10
LAST_USED_KEY = "replyx:ai:last-used"


class UsageStatus(StrEnum):
    """The `ai_usage.status` values: one per way an attempt can end."""

    OK = "ok"
    RATE_LIMITED = "rate_limited"
    TIMEOUT = "timeout"
    CONNECTION_ERROR = "connection_error"
    SERVER_ERROR = "server_error"
    AUTH_ERROR = "auth_error"
    QUOTA_EXHAUSTED = "quota_exhausted"
    MALFORMED = "malformed"
    BAD_REQUEST = "bad_request"
    CLIENT_ERROR = "client_error"
    CANCELLED = "cancelled"  # the caller stopped reading before the end


# ---------------------------------------------------------------------------- events


@dataclass(frozen=True)
class TextDelta:
    """A piece of the answer, to be shown as soon as it arrives."""

    text: str


@dataclass(frozen=True)
class ChatDone:
    """The last event of a successful stream: what it cost and who answered."""

    text: str
    model: str
    key_id: int
    key_name: str
    tokens_in: int
    tokens_out: int
    latency_ms: int
    first_token_ms: int | None
    # True when the provider sent no usage and the figures are a chars/4 estimate.
    usage_estimated: bool = False
    failed_attempts: tuple[Attempt, ...] = ()


ChatEvent = TextDelta | ChatDone


# ---------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class _Key:
    """A detached snapshot of a key row: attempts must not hold a DB session open."""

    id: int
    name: str
    base_url: str
    api_key_encrypted: str
    requests_per_minute: int
    tokens_per_minute: int
    priority: int = 100
    daily_token_quota: int = 0
    monthly_token_quota: int = 0


def _serves(models: Any, model: str) -> bool:
    """An empty (or missing) model list means the key serves any model."""
    if not isinstance(models, list) or not models:
        return True
    return model in models


async def _eligible_keys(model: str) -> list[_Key]:
    """Enabled keys for the model, not cooling down (by the database's clock)."""
    async with session_scope() as session:
        rows = (
            await session.exec(
                select(AIProviderKey)
                .where(col(AIProviderKey.is_enabled).is_(True))
                .where(
                    sa.or_(
                        col(AIProviderKey.cooldown_until).is_(None),
                        col(AIProviderKey.cooldown_until) <= sa.func.now(),
                    )
                )
                .order_by(col(AIProviderKey.id))
            )
        ).all()
    return [
        _Key(
            id=r.id or 0,
            name=r.name,
            base_url=r.base_url,
            api_key_encrypted=r.api_key_encrypted,
            requests_per_minute=r.requests_per_minute,
            tokens_per_minute=r.tokens_per_minute,
            priority=r.priority,
            daily_token_quota=r.daily_token_quota,
            monthly_token_quota=r.monthly_token_quota,
        )
        for r in rows
        if _serves(r.models, model)
    ]


async def _least_recently_used_first(keys: list[_Key]) -> list[_Key]:
    """By priority (lower first); within one priority never-used keys first, then oldest
    use, so keys of equal rank share the load; ties by id so the order is predictable."""
    if len(keys) < 2:
        return keys
    scores = await get_redis().zmscore(LAST_USED_KEY, [str(k.id) for k in keys])
    ranked = zip(keys, scores, strict=True)
    return [k for k, _ in sorted(ranked, key=lambda p: (p[0].priority, p[1] or 0.0, p[0].id))]


async def has_usable_keys(model_chain: Sequence[str]) -> bool:
    """Whether any model of the chain has an enabled key that is not cooling down.

    The engine answers extractively when this is False. Per-minute limits are not
    consulted: they clear within a minute, and `stream_chat` reports them as
    `NoUsableKeys` when they are what stops it.
    """
    for model in dict.fromkeys(m.strip() for m in model_chain if m.strip()):
        if await _eligible_keys(model):
            return True
    return False


async def forget_key(key_id: int) -> None:
    """A key was deleted: close its pooled connections here and drop its Redis counters."""
    per_loop = _clients.get(get_running_loop(), {})
    for cache_key in [k for k in per_loop if k[0] == key_id]:
        await per_loop.pop(cache_key).close()
    redis = get_redis()
    await redis.zrem(LAST_USED_KEY, str(key_id))
    await redis.delete(_rpm_key(key_id), _tpm_key(key_id))


# ---------------------------------------------------------------------------- limits

# A sliding one-minute window (the previous minute weighted by how much of it still
# overlaps, plus the current minute), counted on the Redis server's clock so processes
# on different hosts agree. Both counters of a key share one hash tag, so the script
# also runs on Redis Cluster. Returns 0 when taken, 1 when the request limit, 2 when the
# token limit stops it.
_TAKE_SCRIPT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local win = math.floor(t / 60)
local weight = 1 - (t - win * 60) / 60
local function used(key)
  local cur = tonumber(redis.call('HGET', key, win) or '0')
  local prev = tonumber(redis.call('HGET', key, win - 1) or '0')
  return prev * weight + cur
end
if used(KEYS[1]) + 1 > tonumber(ARGV[1]) then return 1 end
if used(KEYS[2]) + tonumber(ARGV[3]) > tonumber(ARGV[2]) then return 2 end
redis.call('HINCRBY', KEYS[1], win, 1)
redis.call('HDEL', KEYS[1], win - 2)
redis.call('EXPIRE', KEYS[1], 180)
return 0
"""

_ADD_TOKENS_SCRIPT = """
local now = redis.call('TIME')
local win = math.floor(tonumber(now[1]) / 60)
redis.call('HINCRBY', KEYS[1], win, ARGV[1])
redis.call('HDEL', KEYS[1], win - 2)
redis.call('EXPIRE', KEYS[1], 180)
return 0
"""


# ---------------------------------------------------------------------------- quotas
# Tokens spent per UTC day and calendar month, for keys with a quota. Counted in Redis so
# the check on every request is one round trip; a counter that is missing (a new day, a
# restarted Redis) is seeded from `ai_usage`, so a flushed Redis does not reset a quota.

_ADD_IF_COUNTED_SCRIPT = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then redis.call('INCRBY', key, ARGV[1]) end
end
return 0
"""


def _period_starts(now: datetime) -> dict[str, datetime]:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return {"day": day, "month": day.replace(day=1)}


def _quota_key(key_id: int, period: str, start: datetime) -> str:
    return f"replyx:ai:{{key{key_id}}}:{period}:{start:%Y%m%d}"


async def tokens_spent(key_id: int, period: str, now: datetime | None = None) -> int:
    """Tokens the key spent this UTC day ("day") or calendar month ("month")."""
    start = _period_starts(now or datetime.now(UTC))[period]
    redis = get_redis()
    name = _quota_key(key_id, period, start)
    counted = await redis.get(name)
    if counted is not None:
        return int(counted)
    async with session_scope() as session:
        spent = (await session.exec(
            select(sa.func.coalesce(sa.func.sum(col(AIUsage.tokens_in)
                                                + col(AIUsage.tokens_out)), 0))
            .where(col(AIUsage.key_id) == key_id, col(AIUsage.created_at) >= start))).one()
    ttl = 2 * 86400 if period == "day" else 32 * 86400
    await redis.set(name, int(spent), ex=ttl, nx=True)
    return int(await redis.get(name) or spent)


async def _over_quota(key: _Key) -> str | None:
    for period, quota in (("day", key.daily_token_quota), ("month", key.monthly_token_quota)):
        if quota > 0 and await tokens_spent(key.id, period) >= quota:
            what = "daily" if period == "day" else "monthly"
            return f"skipped: its {what} quota of {quota:,} tokens is used up"
    return None


def _rpm_key(key_id: int) -> str:
    return f"replyx:ai:{{key{key_id}}}:rpm"


def _tpm_key(key_id: int) -> str:
    return f"replyx:ai:{{key{key_id}}}:tpm"


async def _take_slot(key: _Key, token_estimate: int) -> str | None:
    """Count one request against the key; None when allowed, else why not (for the admin).

    The token check uses the prompt estimate, capped at the key's limit so a large prompt
    can still go out on an idle key instead of never.
    """
    if key.daily_token_quota or key.monthly_token_quota:
        over = await _over_quota(key)
        if over is not None:
            return over
    estimate = max(1, min(token_estimate, key.tokens_per_minute))
    redis = get_redis()
    # register_script runs EVALSHA, sending the source only when the server lacks it.
    verdict = await redis.register_script(_TAKE_SCRIPT)(
        keys=[_rpm_key(key.id), _tpm_key(key.id)],
        args=[key.requests_per_minute, key.tokens_per_minute, estimate],
    )
    if int(verdict) == 1:
        return f"skipped: its limit of {key.requests_per_minute} requests per minute is reached"
    if int(verdict) == 2:
        return f"skipped: its limit of {key.tokens_per_minute} tokens per minute is reached"
    await redis.zadd(LAST_USED_KEY, {str(key.id): time.time()})
    return None


async def _add_tokens(key: _Key, tokens: int) -> None:
    if tokens > 0:
        add = get_redis().register_script(_ADD_TOKENS_SCRIPT)
        await add(keys=[_tpm_key(key.id)], args=[tokens])
        if key.daily_token_quota or key.monthly_token_quota:
            starts = _period_starts(datetime.now(UTC))
            counted = get_redis().register_script(_ADD_IF_COUNTED_SCRIPT)
            await counted(keys=[_quota_key(key.id, p, t) for p, t in starts.items()],
                          args=[tokens])


def _estimate_tokens(text: str) -> int:
    """About four characters per token: only used when the provider reports no usage."""
    return math.ceil(len(text) / 4) if text else 0


def _prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    return "\n".join(str(m.get("content") or "") for m in messages)


# ---------------------------------------------------------------------------- clients

_clients: weakref.WeakKeyDictionary[
    AbstractEventLoop, dict[tuple[int, str, str, float], openai.AsyncOpenAI]
] = weakref.WeakKeyDictionary()


def _client(key: _Key, api_key: str, timeout: float) -> openai.AsyncOpenAI:
    """One client per key and event loop, so connections (and TLS sessions) are reused.

    The cache key includes the base URL and the ciphertext: editing a key yields a new
    client instead of one that still talks to the old endpoint with the old secret.
    """
    per_loop = _clients.setdefault(get_running_loop(), {})
    cache_key = (key.id, key.base_url, key.api_key_encrypted, timeout)
    client = per_loop.get(cache_key)
    if client is None:
        # Superseded clients are only dropped, not closed: a stream may still be reading
        # through one; the SDK closes its connections once the last reference is gone.
        for stale in [k for k in per_loop if k[0] == key.id]:
            per_loop.pop(stale)
        client = openai.AsyncOpenAI(
            base_url=key.base_url, api_key=api_key, timeout=timeout, max_retries=0
        )
        per_loop[cache_key] = client
    return client


async def close_clients() -> None:
    """For shutdown: close this loop's pooled HTTP connections."""
    per_loop = _clients.pop(get_running_loop(), {})
    for client in per_loop.values():
        await client.close()


def _timeout(timeout: float | None) -> float:
    if timeout is not None:
        return timeout
    return float(getattr(get_settings(), "ai_timeout_seconds", DEFAULT_TIMEOUT_SECONDS))


# ---------------------------------------------------------------------------- failures


@dataclass(frozen=True)
class _Failure:
    status: UsageStatus
    detail: str
    cooldown_seconds: int | None = None
    disable_reason: str | None = None
    # The request itself is at fault (e.g. too long for the model): other keys of the
    # same model would refuse it too, so go straight to the next model.
    skip_model: bool = False


def _retry_after(headers: Mapping[str, str]) -> int:
    """Seconds to wait, from `retry-after-ms`, `retry-after` (seconds or HTTP date)."""
    seconds: float | None = None
    raw_ms = headers.get("retry-after-ms")
    raw = headers.get("retry-after")
    try:
        if raw_ms:
            seconds = float(raw_ms) / 1000
        elif raw:
            seconds = float(raw)
    except ValueError:
        seconds = None
    if seconds is None and raw:
        try:
            when = email.utils.parsedate_to_datetime(raw)
            seconds = (when - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            seconds = None
    if seconds is None or not math.isfinite(seconds):
        return DEFAULT_RETRY_AFTER_SECONDS
    return max(1, min(MAX_RETRY_AFTER_SECONDS, math.ceil(seconds)))


def _provider_says(exc: openai.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    message = str(body.get("message") or "").strip()[:160]
    code = exc.code or (body.get("type") if isinstance(body.get("type"), str) else None)
    parts = [f"HTTP {exc.status_code}"] + ([code] if code else [])
    return ", ".join(parts) + (f": {message}" if message else "")


def _classify(exc: Exception, timeout: float, base_url: str) -> _Failure:
    if isinstance(exc, openai.RateLimitError):
        if "insufficient_quota" in (exc.code, exc.type):
            return _Failure(
                UsageStatus.QUOTA_EXHAUSTED,
                "quota exhausted; key disabled",
                disable_reason=(
                    "The provider says the quota is exhausted (insufficient_quota). Top up "
                    "the account, then turn the key back on."
                ),
            )
        wait = _retry_after(exc.response.headers)
        return _Failure(
            UsageStatus.RATE_LIMITED,
            f"rate limited, cooling down for {wait} s",
            cooldown_seconds=wait,
        )
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        said = _provider_says(exc)
        return _Failure(
            UsageStatus.AUTH_ERROR,
            f"refused the key ({said}); key disabled",
            disable_reason=(
                f"The provider refused this key ({said}). Replace the key or fix its access, "
                "then turn it back on."
            )[:300],
        )
    if isinstance(exc, openai.APITimeoutError):
        return _Failure(
            UsageStatus.TIMEOUT,
            f"no reply within {timeout:g} s",
            cooldown_seconds=FAILURE_COOLDOWN_SECONDS,
        )
    if isinstance(exc, openai.APIConnectionError):
        return _Failure(
            UsageStatus.CONNECTION_ERROR,
            f"could not connect to {base_url}",
            cooldown_seconds=FAILURE_COOLDOWN_SECONDS,
        )
    if isinstance(exc, openai.APIResponseValidationError | ValueError):
        return _Failure(
            UsageStatus.MALFORMED,
            "sent a reply that is not valid OpenAI JSON",
            cooldown_seconds=FAILURE_COOLDOWN_SECONDS,
        )
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return _Failure(
                UsageStatus.SERVER_ERROR,
                f"server error ({_provider_says(exc)})",
                cooldown_seconds=FAILURE_COOLDOWN_SECONDS,
            )
        if exc.status_code in (400, 413, 422):
            return _Failure(
                UsageStatus.BAD_REQUEST,
                f"refused the request ({_provider_says(exc)})",
                skip_model=True,
            )
        return _Failure(UsageStatus.CLIENT_ERROR, f"refused the request ({_provider_says(exc)})")
    if isinstance(exc, openai.APIError):
        # An error event inside an otherwise healthy stream (no HTTP status of its own).
        return _Failure(
            UsageStatus.SERVER_ERROR,
            f"reported an error mid-stream: {exc.message[:160]}",
            cooldown_seconds=FAILURE_COOLDOWN_SECONDS,
        )
    log.exception("unexpected error from AI provider at %s", base_url)
    return _Failure(
        UsageStatus.CONNECTION_ERROR,
        f"failed unexpectedly ({type(exc).__name__})",
        cooldown_seconds=FAILURE_COOLDOWN_SECONDS,
    )


async def _record(
    workspace_id: int,
    key: _Key,
    model: str,
    status: UsageStatus,
    *,
    tokens_in: int = 0,
    tokens_out: int = 0,
    latency_ms: int = 0,
    failure: _Failure | None = None,
) -> None:
    """The usage row and the key's new health, in one transaction."""
    spent = await cost(model, tokens_in, tokens_out) if tokens_in or tokens_out else Cost(0, "")
    async with session_scope() as session:
        session.add(
            AIUsage(
                workspace_id=workspace_id,
                key_id=key.id,
                model=model[:120],
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_micro=spent.micro,
                currency=spent.currency,
                latency_ms=latency_ms,
                status=status.value,
            )
        )
        if failure is not None:
            await session.exec(  # type: ignore[call-overload]
                sa.update(AIProviderKey).where(col(AIProviderKey.id) == key.id)
                .values(last_error=f"{failure.status.value}: {failure.detail}"[:300],
                        last_error_at=sa.func.now()))
        if failure is not None and failure.disable_reason:
            await session.exec(  # type: ignore[call-overload]
                sa.update(AIProviderKey)
                .where(col(AIProviderKey.id) == key.id, col(AIProviderKey.is_enabled).is_(True))
                .values(is_enabled=False, disabled_reason=failure.disable_reason[:300])
            )
        elif failure is not None and failure.cooldown_seconds:
            until = sa.func.now() + timedelta(seconds=failure.cooldown_seconds)
            # Never shorten a longer cooldown another process has just set.
            await session.exec(  # type: ignore[call-overload]
                sa.update(AIProviderKey)
                .where(col(AIProviderKey.id) == key.id)
                .values(
                    cooldown_until=sa.func.greatest(
                        sa.func.coalesce(col(AIProviderKey.cooldown_until), until), until
                    )
                )
            )
    await _add_tokens(key, tokens_in + tokens_out)


async def _disable_undecryptable(key: _Key) -> None:
    async with session_scope() as session:
        await session.exec(  # type: ignore[call-overload]
            sa.update(AIProviderKey)
            .where(col(AIProviderKey.id) == key.id)
            .values(
                is_enabled=False,
                disabled_reason=(
                    "The stored key cannot be decrypted with this server's encryption key "
                    "(was REPLYX_ENCRYPTION_KEY changed?). Enter the key again."
                ),
            )
        )


# ---------------------------------------------------------------------------- streaming


class _AttemptFailed(Exception):
    """Internal: this key failed before any text was handed on; try the next one."""

    def __init__(self, attempt: Attempt, skip_model: bool) -> None:
        super().__init__(attempt.detail)
        self.attempt = attempt
        self.skip_model = skip_model


@dataclass
class _Progress:
    parts: list[str] = field(default_factory=list)
    first_token_at: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None


def _ms(since: float, until: float | None = None) -> int:
    return int(((until if until is not None else time.monotonic()) - since) * 1000)


async def _attempt(
    workspace_id: int,
    key: _Key,
    model: str,
    messages: list[ChatCompletionMessageParam],
    temperature: float,
    max_tokens: int,
    read_timeout: float,
    prompt_text: str,
) -> AsyncGenerator[ChatEvent, None]:
    """One key, one model: stream it, record it, and turn any failure into a verdict."""
    try:
        api_key = decrypt_secret(key.api_key_encrypted)
    except RuntimeError:
        await _disable_undecryptable(key)
        attempt = Attempt(
            model, key.id, key.name, "undecryptable", "cannot be decrypted; key disabled"
        )
        raise _AttemptFailed(attempt, skip_model=False) from None
    client = _client(key, api_key, read_timeout)
    started = time.monotonic()
    progress = _Progress()
    try:
        stream = await client.chat.completions.create(
            model=model,
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        async with stream:
            async for chunk in stream:
                if chunk.usage is not None:
                    progress.tokens_in = chunk.usage.prompt_tokens
                    progress.tokens_out = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    piece = choice.delta.content if choice.index == 0 else None
                    if piece:
                        if progress.first_token_at is None:
                            progress.first_token_at = time.monotonic()
                        progress.parts.append(piece)
                        yield TextDelta(piece)
    except GeneratorExit:
        # The caller stopped reading (the visitor left, an operator took over). The
        # provider still spent tokens on what it generated, so they are counted.
        partial = "".join(progress.parts)
        await _record(
            workspace_id,
            key,
            model,
            UsageStatus.CANCELLED,
            tokens_in=_estimate_tokens(prompt_text),
            tokens_out=_estimate_tokens(partial),
            latency_ms=_ms(started),
        )
        raise
    except Exception as exc:
        failure = _classify(exc, read_timeout, key.base_url)
        partial = "".join(progress.parts)
        log.warning("AI key %s (%s) %s: %s", key.id, model, failure.status.value, failure.detail)
        await _record(
            workspace_id,
            key,
            model,
            failure.status,
            tokens_in=_estimate_tokens(prompt_text) if partial else 0,
            tokens_out=_estimate_tokens(partial),
            latency_ms=_ms(started),
            failure=failure,
        )
        if progress.first_token_at is not None:
            raise ProviderStreamBroken(
                f"The answer from {model} via key “{key.name}” (#{key.id}) broke off after "
                f"{len(partial)} characters: {failure.detail}.",
                partial_text=partial,
                key_id=key.id,
                model=model,
            ) from exc
        raise _AttemptFailed(
            Attempt(model, key.id, key.name, failure.status.value, failure.detail),
            failure.skip_model,
        ) from exc

    text = "".join(progress.parts)
    estimated = progress.tokens_in is None or progress.tokens_out is None
    tokens_in = (
        progress.tokens_in if progress.tokens_in is not None else _estimate_tokens(prompt_text)
    )
    tokens_out = progress.tokens_out if progress.tokens_out is not None else _estimate_tokens(text)
    latency = _ms(started)
    await _record(
        workspace_id,
        key,
        model,
        UsageStatus.OK,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=latency,
    )
    yield ChatDone(
        text=text,
        model=model,
        key_id=key.id,
        key_name=key.name,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=latency,
        first_token_ms=(
            _ms(started, progress.first_token_at) if progress.first_token_at is not None else None
        ),
        usage_estimated=estimated,
    )


def _summary(attempts: list[Attempt], tried: bool) -> str:
    head = (
        "No AI provider could answer."
        if tried
        else "No AI provider key could be used for this answer."
    )
    by_model: dict[str, list[str]] = {}
    for a in attempts:
        by_model.setdefault(a.model, []).append(a.describe() if a.key_id else a.detail)
    lines = [f"{model}: " + "; ".join(items) + "." for model, items in by_model.items()]
    return " ".join([head, *lines])


async def stream_chat(
    workspace_id: int,
    models: list[str],
    messages: list[dict[str, Any]],
    temperature: float,
    max_tokens: int,
    *,
    read_timeout: float | None = None,
) -> AsyncGenerator[ChatEvent, None]:
    """Stream an answer: `TextDelta`s, then one `ChatDone` with usage, key, model, latency.

    `models` is the fallback chain, first preferred. `read_timeout` (seconds) bounds each
    network wait, not the whole answer, so a slowly streaming answer is fine and a silent
    provider is not; by default `ai_timeout_seconds` from the settings, else 30 s.

    Raises `NoUsableKeys` when no key could even be tried, `AllProvidersFailed` when every
    tried key failed before sending text, `ProviderStreamBroken` when one failed after.
    """
    chain = list(dict.fromkeys(m.strip() for m in models if m.strip()))
    if not chain:
        raise NoUsableKeys("No AI model is configured for this assistant.")
    timeout_s = _timeout(read_timeout)
    typed_messages = cast(list[ChatCompletionMessageParam], messages)
    prompt_text = _prompt_text(messages)
    token_estimate = _estimate_tokens(prompt_text) + max(0, max_tokens)
    attempts: list[Attempt] = []
    tried = False
    for model in chain:
        keys = await _least_recently_used_first(await _eligible_keys(model))
        if not keys:
            attempts.append(
                Attempt(
                    model,
                    None,
                    "",
                    "no_key",
                    "no enabled key serves this model right now (none configured, all disabled "
                    "or cooling down)",
                )
            )
            continue
        for key in keys:
            refused = await _take_slot(key, token_estimate)
            if refused is not None:
                attempts.append(Attempt(model, key.id, key.name, "limited", refused))
                continue
            tried = True
            try:
                async with aclosing(
                    _attempt(
                        workspace_id,
                        key,
                        model,
                        typed_messages,
                        temperature,
                        max_tokens,
                        timeout_s,
                        prompt_text,
                    )
                ) as events:
                    async for event in events:
                        if isinstance(event, ChatDone):
                            event = replace(event, failed_attempts=tuple(attempts))
                        yield event
                return
            except _AttemptFailed as failed:
                attempts.append(failed.attempt)
                if failed.skip_model:
                    break
    error = AllProvidersFailed if tried else NoUsableKeys
    raise error(_summary(attempts, tried), attempts)
