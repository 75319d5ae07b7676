"""Keep a tab's session when the web worker that held its socket was SIGKILLed.

Reflex 0.10.1 (`reflex/utils/token_manager.py`, `RedisTokenManager.link_token_to_sid`)
treats any existing `token_manager_socket_record_<token>` key as a duplicate tab and hands
the connecting tab a new token (a new, empty session). A worker that dies by SIGKILL never
deletes its records (that happens in `disconnect_token`), so for an hour every tab that
reconnects after the crash lost its session.

Here each worker registers itself (`replyx:web_instance:<instance id>` → host, boot id,
pid, process start time; refreshed with a TTL). A record whose owner is gone — no
registration, or on this host a pid that no longer runs — is taken over atomically; a
record of a live owner is still a real duplicate tab and gets Reflex's new token.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import pickle
import socket
from pathlib import Path
from typing import Any

import psutil
from reflex.utils.token_manager import RedisTokenManager, SocketRecord

logger = logging.getLogger(__name__)

REGISTRY_TTL = 20  # seconds; refreshed every REGISTRY_TTL / 4
_PREFIX = "replyx:web_instance:"
# Replace the record only if it is still the dead owner's (another tab may have won).
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3]) return 1
end
return 0
"""


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _me() -> dict[str, Any]:
    proc = psutil.Process()
    return {"host": socket.gethostname(), "boot": _boot_id(), "pid": proc.pid,
            "started": proc.create_time()}


def _process_runs(pid: int, started: float) -> bool:
    try:
        proc = psutil.Process(pid)
        return bool(abs(proc.create_time() - started) < 0.01
                    and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False


class ReconnectingTokenManager(RedisTokenManager):
    """RedisTokenManager that keeps the token of a tab whose previous socket is dead."""

    _heartbeat: asyncio.Task[None] | None = None

    async def _register(self) -> None:
        me = {**_me(), "instance": self.instance_id}
        await self.redis.set(_PREFIX + self.instance_id, json.dumps(me), ex=REGISTRY_TTL)

    async def _beat(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                await self._register()
            await asyncio.sleep(REGISTRY_TTL / 4)  # heartbeat period, not a synchronisation

    async def _owner_alive(self, token: str, record: SocketRecord) -> bool:
        if record.instance_id == self.instance_id:
            return self.sid_to_token.get(record.sid) == token
        raw = await self.redis.get(_PREFIX + record.instance_id)
        if raw is None:
            return False
        owner = json.loads(raw)
        me = _me()
        if owner.get("host") == me["host"] and owner.get("boot") == me["boot"]:
            return _process_runs(int(owner["pid"]), float(owner["started"]))
        return True  # another machine: its registration's TTL is the only evidence

    async def link_token_to_sid(self, token: str, sid: str) -> str | None:
        # Registered on every link, not only on the first: a record this worker writes
        # must never sit in Redis without its owner's registration (a flushed or
        # restarted Redis drops the registration before the next heartbeat).
        await self._register()
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = asyncio.create_task(self._beat())
        known = self.token_to_socket.get(token)
        if known is not None and known.sid == sid:
            return None
        key = self._get_redis_key(token)
        try:
            raw = await self.redis.get(key)
            if raw is not None:
                old = pickle.loads(raw)  # noqa: S301 - Reflex's own record in our Redis
                if not await self._owner_alive(token, old):
                    record = SocketRecord(instance_id=self.instance_id, sid=sid)
                    taken = await self.redis.eval(  # type: ignore[misc]
                        _TAKE_OVER, 1, key, raw, pickle.dumps(record),
                        str(self.token_expiration))
                    if taken:
                        self._ensure_socket_record_task()
                        self.token_to_socket[token] = record
                        self.sid_to_token[sid] = token
                        logger.info("kept session %s… of a dead socket owner", token[:8])
                        return None
        except Exception as exc:  # fall back to Reflex's own behaviour
            logger.warning("checking a socket owner failed: %s", exc)
        return await super().link_token_to_sid(token, sid)


def install(app: Any) -> None:
    """Replace the app's Redis token manager (after rx.App(...) built its EventNamespace)."""
    ns = app.event_namespace
    if ns is None or type(ns._token_manager) is not RedisTokenManager:
        return
    ns._token_manager = ReconnectingTokenManager(ns._token_manager.redis)
    logger.debug("token manager: %s (pid %s)", type(ns._token_manager).__name__, os.getpid())
