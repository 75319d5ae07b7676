"""The lifespan hook for unfinished widget answers (state/widget_answers.py).

An async context manager rather than a plain task: Reflex leaves such a context before
it cancels the other lifespan tasks and closes the state manager, so a stopping worker
can still stream its running answers to the end (bounded) and hand the rest on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from replyx_app import web_logging
from state import live, widget_answers


@contextlib.asynccontextmanager
async def answer_recovery(app: Any) -> AsyncIterator[None]:
    web_logging.configure()
    live.set_app(app)
    stop = asyncio.Event()
    watch = asyncio.create_task(widget_answers.recover_forever(stop))
    try:
        yield
    finally:
        stop.set()
        with contextlib.suppress(BaseException):
            await watch
        await widget_answers.drain()
