"""Calendar helpers shared by the reports: every day of a period, empty ones included,
so a chart has a bar (or a gap) for each day rather than skipping quiet ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta


def each_day(since: date, until: date) -> Iterator[date]:
    """The days from `since` to `until`, both included."""
    current = since
    while current <= until:
        yield current
        current += timedelta(days=1)
