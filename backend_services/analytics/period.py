"""The period a report covers, and the one before it to compare with.

A report is for whole calendar days in one time zone (the business's, not the server's:
a shop in Moscow reads "Monday" and "09:00" in Moscow time), for one assistant or all,
for one channel or all. The previous period is the same number of days right before,
so "vs previous period" compares like with like.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from backend_services.conversations.actors import CHANNEL_KINDS
from backend_services.core.errors import ValidationFailed

MAX_DAYS = 366


@dataclass(frozen=True)
class Filters:
    since: date
    until: date  # inclusive
    assistant_id: int | None = None
    channel: str = ""  # "", widget, telegram
    tz: str = "UTC"  # IANA time zone the days and hours are read in

    def clean(self) -> Filters:
        if self.since > self.until:
            raise ValidationFailed("The start date is after the end date.")
        if self.days > MAX_DAYS:
            raise ValidationFailed(f"Choose at most {MAX_DAYS} days.")
        if self.channel and self.channel not in CHANNEL_KINDS:
            raise ValidationFailed("Unknown channel.")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValidationFailed("Unknown time zone.") from None
        return self

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time(), self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), time(), self.zone)

    def previous(self) -> Filters:
        """The same number of days ending the day before `since`."""
        until = self.since - timedelta(days=1)
        return replace(self, since=until - timedelta(days=self.days - 1), until=until)
