"""Rate limits kept in Redis (the `limits` library), shared by every process.

Login protection counts attempts per account and per IP in a fixed window (a small Lua
script on the shared Redis client): each attempt takes a slot before its password is
checked, and a right password gives the slot back, so what stays counted is failures.
Once either count reaches its limit, further attempts are refused without checking the
password until the window ends, and the refusal says how long to wait.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter

from backend_services.core.errors import RateLimited
from backend_services.core.redis_client import get_redis
from backend_services.core.settings import get_settings

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


# A sign-in attempt takes its slot before the password is checked, atomically: INCR, and
# refuse (giving the increment back) past the limit. Checking first and counting after
# the slow argon2 verification let N concurrent guesses all be evaluated.
_TAKE_SLOT = """
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  ttl = tonumber(ARGV[2])
end
if n > tonumber(ARGV[1]) then
  redis.call('DECR', KEYS[1])
  return {0, ttl}
end
return {1, ttl}
"""

# Give one slot back; a key that expired meanwhile must not come back as a negative count.
_GIVE_BACK = """
local n = redis.call('DECR', KEYS[1])
if n <= 0 then redis.call('DEL', KEYS[1]) end
return n
"""


def _account_key(email: str) -> str:
    return f"replyx:login:acct:{email.lower()}"


def _ip_key(ip: str) -> str:
    return f"replyx:login:ip:{ip or 'unknown'}"


def _lockout(wait: int) -> RateLimited:
    wait = max(1, wait)
    return RateLimited(f"Too many failed sign-in attempts. Try again in {wait} s.",
                       retry_after=wait)


async def _take(key: str, limit: int, window: int) -> int | None:
    """Take a slot: None when taken, else the seconds until the window ends."""
    # register_script runs EVALSHA, sending the source only when the server lacks it.
    taken, ttl = await get_redis().register_script(_TAKE_SLOT)(keys=[key], args=[limit, window])
    return None if int(taken) else int(ttl)


async def _give_back(key: str) -> None:
    await get_redis().register_script(_GIVE_BACK)(keys=[key])


async def take_login_slot(email: str, ip: str) -> None:
    """Reserve this sign-in attempt against the account's and the address's limits, or
    raise the lockout. Called before the password is verified, so at most the limit of
    attempts per window is ever evaluated, however many arrive at once.

    The account goes first: an attempt on a locked account costs the address nothing
    (an office whose colleague is being attacked keeps its own allowance); an attempt the
    address may not make gives the account slot back.
    """
    s = get_settings()
    window = s.login_lockout_seconds
    wait = await _take(_account_key(email), s.login_max_failures_account, window)
    if wait is not None:
        raise _lockout(wait)
    wait = await _take(_ip_key(ip), s.login_max_failures_ip, window)
    if wait is not None:
        await _give_back(_account_key(email))
        raise _lockout(wait)


async def password_accepted(email: str, ip: str) -> None:
    """The password was right: it was no guess. The account's failures are forgiven (as
    before) and the address gets this attempt's slot back, so the sign-ins of an office
    behind one address never add up to a lockout; only failures stay counted."""
    await get_redis().delete(_account_key(email))
    await _give_back(_ip_key(ip))


async def attempt_not_judged(email: str, ip: str) -> None:
    """The attempt broke before a verdict (database down): give both slots back."""
    await _give_back(_account_key(email))
    await _give_back(_ip_key(ip))


async def clear_login_failures(email: str) -> None:
    """A password reset proves control of the mailbox: the account is unlocked."""
    await get_redis().delete(_account_key(email))


async def clear_login_address(ip: str) -> None:
    """A platform admin lifted this address's ban: its sign-in lockout goes too."""
    await get_redis().delete(_ip_key(ip))


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
