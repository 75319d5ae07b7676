"""The lifespan hook for unfinished widget answers (state/widget_answers.py), and the
intent detector's warm-up.

An async context manager rather than a plain task: Reflex leaves such a context before
it cancels the other lifespan tasks and closes the state manager, so a stopping worker
can still stream its running answers to the end (bounded) and hand the rest on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from backend_services.conversations import intent
from replyx_app import web_logging
from state import live, widget_answers

log = logging.getLogger(__name__)


async def _warm_intent() -> None:
    try:
        await intent.warm()
    except Exception:
        log.warning("could not embed the intent examples; rules alone decide", exc_info=True)


@contextlib.asynccontextmanager
async def answer_recovery(app: Any) -> AsyncIterator[None]:
    web_logging.configure()
    live.set_app(app)
    stop = asyncio.Event()
    watch = asyncio.create_task(widget_answers.recover_forever(stop))
    # The intent detector's examples, embedded off the visitors' path (rules meanwhile).
    warming = asyncio.create_task(_warm_intent())
    try:
        yield
    finally:
        warming.cancel()
        stop.set()
        with contextlib.suppress(BaseException):
            await watch
        await widget_answers.drain()
