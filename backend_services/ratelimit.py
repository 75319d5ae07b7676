"""Rate limits kept in Redis (the `limits` library), shared by every process.

Login protection counts failures per account and per IP in a fixed window; once either
reaches its limit, further attempts are refused until the window ends, and the refusal
says how long to wait.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter

from backend_services.errors import RateLimited
from backend_services.settings import get_settings

_storage: RedisStorage | None = None


def _limiter() -> FixedWindowRateLimiter:
    global _storage
    if _storage is None:
        url = get_settings().require_redis_url().replace("redis://", "async+redis://", 1)
        _storage = RedisStorage(url, implementation="redispy")
    return FixedWindowRateLimiter(_storage)


def reset_storage() -> None:
    global _storage
    _storage = None


def _item(count: int, seconds: int) -> RateLimitItem:
    return RateLimitItemPerSecond(count, seconds)


async def _retry_after(item: RateLimitItem, *ids: str) -> int:
    stats = await _limiter().get_window_stats(item, *ids)
    return max(1, math.ceil(stats.reset_time - time.time()))


async def check_login_allowed(email: str, ip: str) -> None:
    s = get_settings()
    window = s.login_lockout_seconds
    checks = [
        (_item(s.login_max_failures_account, window), ("login-acct", email.lower())),
        (_item(s.login_max_failures_ip, window), ("login-ip", ip or "unknown")),
    ]
    for item, ids in checks:
        if not await _limiter().test(item, *ids):
            wait = await _retry_after(item, *ids)
            raise RateLimited(
                f"Too many failed sign-in attempts. Try again in {wait} s.", retry_after=wait
            )


async def record_login_failure(email: str, ip: str) -> None:
    s = get_settings()
    window = s.login_lockout_seconds
    await _limiter().hit(_item(s.login_max_failures_account, window), "login-acct", email.lower())
    await _limiter().hit(_item(s.login_max_failures_ip, window), "login-ip", ip or "unknown")


async def clear_login_failures(email: str) -> None:
    s = get_settings()
    await _limiter().clear(
        _item(s.login_max_failures_account, s.login_lockout_seconds), "login-acct", email.lower()
    )


async def take(name: str, key: str, count: int, seconds: int) -> bool:
    """One unit of a plain limit, counted atomically; False once the window is full."""
    return bool(await _limiter().hit(_item(count, seconds), name, key))


async def hit_or_raise(name: str, key: str, count: int, seconds: int, what: str) -> None:
    """A plain limit for anything else (mail sending, sign-ups): hit, or refuse with a wait."""
    item = _item(count, seconds)
    if not await _limiter().hit(item, name, key):
        wait = await _retry_after(item, name, key)
        raise RateLimited(f"Too many {what}. Try again in {wait} s.", retry_after=wait)


async def check_widget_session(ip: str) -> None:
    """Widget sessions (page loads with the snippet) per client IP and minute."""
    await hit_or_raise(
        "widget-session-ip",
        ip or "unknown",
        get_settings().widget_sessions_per_ip_per_minute,
        60,
        "chat sessions from your network",
    )


async def check_visitor_message(visitor_key: str, ip: str = "") -> None:
    """A visitor's chat messages, per visitor and per client IP and minute.

    Counted before anything is stored or answered, so a refused message costs nothing and
    a visitor cannot make the AI spend the workspace's balance faster than this allows.
    """
    s = get_settings()
    checks = [(_item(s.visitor_messages_per_minute, 60), ("visitor-msg", visitor_key))]
    if ip:
        checks.append((_item(s.visitor_messages_per_ip_per_minute, 60), ("visitor-msg-ip", ip)))
    for item, ids in checks:
        if not await _limiter().hit(item, *ids):
            wait = await _retry_after(item, *ids)
            raise RateLimited(
                f"You are sending messages too quickly. Please wait {wait} s and try again.",
                retry_after=wait,
            )
