"""Calendar helpers shared by the reports: every day of a period, empty ones included,
so a chart has a bar (or a gap) for each day rather than skipping quiet ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

from backend_services.core.errors import ValidationFailed


def each_day(since: date, until: date) -> Iterator[date]:
    """The days from `since` to `until`, both included."""
    current = since
    while current <= until:
        yield current
        current += timedelta(days=1)


def parse_day(raw: object, what: str) -> date | None:
    """A day typed in a filter ("2026-12-31"), None when left empty."""
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ValidationFailed(f"The {what} date must look like 2026-12-31.") from exc
