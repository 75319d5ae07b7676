"""Where the web app re-checks live links (state/live_access.py explains why):

- `LiveAccessMiddleware`: on every (re)connect of a tab, before its snapshot is built, so
  the snapshot of a tab whose login ended carries nothing of the old workspace;
- `live_access_task` (a lifespan task in every web worker): one member of the
  `web-access` consumer group on the `access` stream re-checks the tabs of a user whose
  access changed, and once a minute one worker (a Redis lock) re-checks every registered
  tab, which ends the live views of sessions that expired without any event.

A tab whose links were revoked is sent to the sign-in page with a full page load, so
nothing the browser still holds in memory stays on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from typing import Any

import reflex as rx
from reflex.middleware.middleware import Middleware
from reflex.state import StateUpdate
from reflex_base.constants import CompileVars
from reflex_base.event import Event
from reflex_base.utils.format import format_event_handler

from backend_services.core import events
from backend_services.core.events import UserAccessChanged
from backend_services.core.redis_client import get_redis
from backend_services.core.settings import get_settings
from backend_services.identity.access_events import ACCESS_STREAM
from state import live_access, live_tabs
from state.session import SessionState

log = logging.getLogger(__name__)

GROUP = "web-access"
_SWEEP_LOCK = "replyx:live-tabs-sweep"
_TABS_PATTERN = "replyx:live-tabs:*"


def _hydrate_names() -> frozenset[str]:
    handlers = rx.State.event_handlers
    return frozenset(format_event_handler(handlers[name])
                     for name in (CompileVars.HYDRATE, CompileVars.HYDRATE_AND_LOAD)
                     if name in handlers)


class LiveAccessMiddleware(Middleware):
    """Revoke a reconnecting tab's stale links, then let its hydrate run on the clean
    tree (it is queued again: the first tree still holds the unlinked states)."""

    def __init__(self) -> None:
        self._hydrate = _hydrate_names()

    async def preprocess(self, app: Any, state: Any, event: Event) -> StateUpdate | None:
        if event.name not in self._hydrate:
            return None
        if await live_access.revalidate(state):
            return StateUpdate(delta={}, events=[event])
        return None


async def recheck_tab(app: Any, user_id: int, token: str) -> bool:
    """Re-check one registered tab of `user_id`; True when its links were revoked.

    Read without the tab's lock first: nearly every tab is still fine, and a sweep must
    not hold the lock of every open console (their own events wait for it)."""
    key = rx.BaseStateToken(ident=token, cls=SessionState)
    peek = await (await app.state_manager.get_state(key)).get_state(SessionState)
    if peek._live_user_id != user_id:
        await live_tabs.forget_tab(user_id, token)  # expired, or relinked by someone else
        return False
    if await live_access.current_binding(peek) == peek._live_binding:
        return False
    async with app.modify_state(key) as root:  # revoke under the lock, checking again
        revoked = await live_access.revalidate(await root.get_state(SessionState))
    if revoked:
        leave = Event.from_event_type(rx.call_script("window.location.assign('/login')"))
        await app.event_namespace.emit_update(StateUpdate(events=leave), token)
    return revoked


async def recheck_user(app: Any, user_id: int) -> int:
    revoked = 0
    for token in await live_tabs.tabs_of(user_id):
        try:
            revoked += await recheck_tab(app, user_id, token)
        except Exception:  # one broken tab state must not shield the others
            log.exception("could not re-check a live tab of user %s", user_id)
    return revoked


async def _on_access_changed(app: Any, event: events.Event) -> None:
    if isinstance(event, UserAccessChanged):
        await recheck_user(app, event.user_id)


async def sweep(app: Any) -> int:
    """Re-check every registered tab; returns how many were revoked."""
    redis = get_redis()
    revoked = 0
    async for key in redis.scan_iter(match=_TABS_PATTERN, count=500):
        user_id = str(key).rsplit(":", 1)[-1]
        if user_id.isdigit():
            revoked += await recheck_user(app, int(user_id))
    return revoked


async def _sweep_forever(app: Any, stop: asyncio.Event) -> None:
    period = max(1, get_settings().live_recheck_seconds)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), period)
        if stop.is_set():
            return
        try:
            # One worker sweeps per period, whichever takes the lock first.
            if await get_redis().set(_SWEEP_LOCK, "1", nx=True, px=int(period * 900)):
                await sweep(app)
        except Exception:
            log.exception("live tab sweep failed")


async def live_access_task(app: Any) -> None:
    async def handle(event: events.Event) -> None:
        await _on_access_changed(app, event)

    consumer = events.StreamConsumer(
        ACCESS_STREAM, GROUP, f"{socket.gethostname()}-{os.getpid()}", handle,
        claim_idle_ms=15_000,
    )
    stop = asyncio.Event()
    sweeper = asyncio.create_task(_sweep_forever(app, stop))
    try:
        await consumer.run_forever(stop)
    except asyncio.CancelledError:
        stop.set()
        raise
    finally:
        stop.set()
        sweeper.cancel()
