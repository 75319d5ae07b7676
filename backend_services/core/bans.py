"""Temporary address bans: an address that keeps failing is shut out for a while.

The system ReplyX replaced ran fail2ban over its logs. Here the failures are counted where
they happen, in Redis, so every web worker and host sees the same counts and bans:

- `login`: a wrong password, or a sign-in refused by the lockout (the address kept going);
- `widget_origin`: a widget session asked for from a page the widget may not load on;
- `telegram_secret`: a Telegram webhook call with a wrong secret or for no such bot.

`REPLYX_BAN_AFTER_FAILURES` failures of any kinds within `REPLYX_BAN_WINDOW_SECONDS` ban
the address for `REPLYX_BAN_SECONDS`. The ASGI middleware refuses a banned address's
HTTP requests and websocket connections (`replyx_app/middleware.py`); sign-in checks too,
for a socket opened before the ban. A platform admin sees the bans and may lift one
(audited); a ban imposed is audited as well, so the record outlives the Redis key.

An IPv6 client is counted and banned by its /64: one subscriber usually holds the whole
prefix and could otherwise walk through addresses. Exempt addresses
(`REPLYX_BAN_EXEMPT_ADDRESSES`, loopback by default) are never counted: behind a local
proxy without `REPLYX_TRUSTED_PROXY_HOPS`, every client would appear as 127.0.0.1 and one
attacker would get everyone banned.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from backend_services.core import audit, ratelimit
from backend_services.core.db import session_scope
from backend_services.core.errors import NotFound, RateLimited
from backend_services.core.principal import Principal
from backend_services.core.redis_client import get_redis
from backend_services.core.settings import get_settings

log = logging.getLogger(__name__)

LOGIN = "login"
WIDGET_ORIGIN = "widget_origin"
TELEGRAM_SECRET = "telegram_secret"
KIND_LABELS = {
    LOGIN: "failed sign-ins",
    WIDGET_ORIGIN: "widget refused for the page's origin",
    TELEGRAM_SECRET: "wrong Telegram webhook secret",
}

_FAILURES = "replyx:ban:failures:"  # hash per address: a count per kind and "total"
_BAN = "replyx:ban:active:"  # JSON of the ban; its TTL is the ban's
_INDEX = "replyx:ban:index"  # sorted set address -> until, for the admin's list only

# One address's failures in a fixed window, per kind and in total, in one atomic step.
_COUNT = """
local total = redis.call('HINCRBY', KEYS[1], 'total', 1)
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return redis.call('HGETALL', KEYS[1])
"""


@dataclass(frozen=True)
class Ban:
    address: str  # an IPv4 address, or an IPv6 /64 ("2001:db8:1:2::/64")
    kind: str  # the kind with the most failures
    failures: int
    counts: tuple[tuple[str, int], ...]
    since: float  # epoch seconds
    until: float
    last_ip: str  # the address of the failure that tipped it (the /64's member)

    @property
    def reason(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    def retry_after(self) -> int:
        return max(1, math.ceil(self.until - time.time()))

    def until_text(self) -> str:
        return datetime.fromtimestamp(self.until, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    def to_json(self) -> str:
        return json.dumps({
            "address": self.address, "kind": self.kind, "failures": self.failures,
            "counts": dict(self.counts), "since": self.since, "until": self.until,
            "last_ip": self.last_ip,
        })

    @classmethod
    def from_json(cls, raw: str) -> Ban:
        d: dict[str, Any] = json.loads(raw)
        return cls(address=str(d["address"]), kind=str(d["kind"]), failures=int(d["failures"]),
                   counts=tuple((str(k), int(v)) for k, v in dict(d["counts"]).items()),
                   since=float(d["since"]), until=float(d["until"]),
                   last_ip=str(d.get("last_ip", "")))


@lru_cache(maxsize=8)
def _exempt_networks(
    listed: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n.strip(), strict=False) for n in listed if n.strip())


def address_key(ip: str) -> str | None:
    """The address bans are kept under, or None for an exempt or unparsable address."""
    try:
        addr = ipaddress.ip_address(ip.strip().split("%")[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    exempt = _exempt_networks(tuple(get_settings().ban_exempt_addresses))
    if any(addr in net for net in exempt):
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((addr, 64), strict=False))
    return str(addr)


async def is_banned(ip: str) -> Ban | None:
    """The ban on this client's address, if one is in force (one Redis GET)."""
    key = address_key(ip)
    if key is None:
        return None
    raw = await get_redis().get(_BAN + key)
    return Ban.from_json(raw) if raw else None


def banned_message(ban: Ban) -> str:
    return ("Too many failed requests from your address: it is blocked for a while. "
            f"Try again in {ban.retry_after()} s.")


async def refuse_if_banned(ip: str) -> None:
    """For work that arrives over a socket opened before the ban (sign-in)."""
    ban = await is_banned(ip)
    if ban is not None:
        raise RateLimited(banned_message(ban), retry_after=ban.retry_after())


async def record_failure(kind: str, ip: str) -> Ban | None:
    """Count one failure of `kind` from `ip`; returns the ban when this one imposed it."""
    key = address_key(ip)
    if key is None:
        return None
    s = get_settings()
    flat: list[str] = await get_redis().register_script(_COUNT)(
        keys=[_FAILURES + key], args=[kind, s.ban_window_seconds])
    counts = {flat[i]: int(flat[i + 1]) for i in range(0, len(flat), 2)}
    total = counts.pop("total", 0)
    if total < s.ban_after_failures:
        return None
    now = time.time()
    ban = Ban(address=key, kind=max(counts, key=lambda k: counts[k]), failures=total,
              counts=tuple(sorted(counts.items())), since=now, until=now + s.ban_seconds,
              last_ip=ip)
    # NX: of several workers crossing the line at once, one imposes (and audits) the ban.
    if not await get_redis().set(_BAN + key, ban.to_json(), ex=s.ban_seconds, nx=True):
        return None
    await get_redis().zadd(_INDEX, {key: ban.until})
    await get_redis().delete(_FAILURES + key)
    log.warning("address %s banned for %d s after %d failures (%s)", key, s.ban_seconds,
                total, ", ".join(f"{k} {v}" for k, v in ban.counts))
    try:
        async with session_scope() as session:
            await audit.record(session, "address_banned", target=key, ip=ip,
                               details={"kind": ban.kind, "failures": total,
                                        "counts": counts, "seconds": s.ban_seconds})
    except Exception:  # the ban holds without its audit row; the log line above has it
        log.exception("could not audit the ban of %s", key)
    return ban


async def list_bans(principal: Principal) -> list[Ban]:
    """Bans in force, the longest-lasting first (platform admins only)."""
    principal.require_platform_admin()
    redis = get_redis()
    await redis.zremrangebyscore(_INDEX, "-inf", time.time())
    addresses: list[str] = await redis.zrange(_INDEX, 0, -1, desc=True)
    bans: list[Ban] = []
    for address in addresses:
        raw = await redis.get(_BAN + address)
        if raw:
            bans.append(Ban.from_json(raw))
        else:  # lifted elsewhere or expired early: the index is only a listing aid
            await redis.zrem(_INDEX, address)
    return bans


async def lift_ban(principal: Principal, address: str) -> Ban:
    """A platform admin lets the address in again at once, and its counts start afresh
    (the sign-in lockout of that address included). Audited with who and what."""
    principal.require_platform_admin()
    address = address.strip()[:64]
    redis = get_redis()
    raw = await redis.get(_BAN + address)
    if not raw:
        await redis.zrem(_INDEX, address)
        raise NotFound("That address is not banned (any more).")
    ban = Ban.from_json(raw)
    await redis.delete(_BAN + address)  # one key per call: cluster-safe
    await redis.delete(_FAILURES + address)
    await redis.zrem(_INDEX, address)
    if ban.last_ip:
        await ratelimit.clear_login_address(ban.last_ip)
    async with session_scope() as session:
        await audit.record(session, "ban_lifted", actor_user_id=principal.user_id,
                           target=address, ip=principal.ip,
                           details={"kind": ban.kind, "failures": ban.failures,
                                    "until": ban.until_text()})
    return ban
