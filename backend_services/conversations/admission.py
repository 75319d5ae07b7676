"""Admission control for AI answers: a bounded number per process, the rest refused.

A web worker that accepts every visitor message while it answers ~6 a second (two shared
cores, bench/widget_load.py) builds a queue that only grows: answers arrive minutes late,
Reflex state locks expire, connection pools run dry and some work is lost. Refusing a
message *before* it is stored keeps the accepted ones fast and loses nothing: the visitor
sees "we're busy, send it again" with the text still in the box. The count is per process
because the resource it protects (this worker's event loop and pools) is per process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from backend_services.core.errors import Busy
from backend_services.core.metrics import ANSWERS_IN_FLIGHT, ANSWERS_REFUSED_BUSY

BUSY_MESSAGE = ("We're answering a lot of people right now. Please send your message again "
                "in a few seconds.")


class AnswerGate:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def check(self) -> None:
        """Refuse a new message (raise Busy) when this process's answers are at the limit."""
        if self.in_flight >= self.limit:
            ANSWERS_REFUSED_BUSY.inc()
            raise Busy(BUSY_MESSAGE)

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Count one answer being written, from its start until it is stored or failed.

        Not a semaphore: a message that passed `check` is stored, so its answer must be
        written even if a burst took the count past the limit meanwhile.
        """
        self.in_flight += 1
        ANSWERS_IN_FLIGHT.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            ANSWERS_IN_FLIGHT.dec()
