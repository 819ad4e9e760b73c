"""ISO weeks: the unit of the weekly snapshot and of ``evidence week``.

A week ``YYYY-Www`` runs from Monday 00:00 UTC to the next Monday 00:00 UTC (the *cutoff*):
the state "as of the end of the week" is every event recorded before the cutoff.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_WEEK_RE = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekFormatError(ValueError):
    """A week string that is not ``YYYY-Www`` (or names a week the year does not have)."""


@dataclass(frozen=True, slots=True, order=True)
class IsoWeek:
    year: int
    week: int

    @classmethod
    def parse(cls, text: str) -> IsoWeek:
        match = _WEEK_RE.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise WeekFormatError(f"not an ISO week: {text!r} (expected YYYY-Www, e.g. 2026-W10)")
        year, week = int(match.group(1)), int(match.group(2))
        try:
            date.fromisocalendar(year, week, 1)
        except ValueError:
            raise WeekFormatError(f"{text!r}: {year} has no ISO week {week}") from None
        return cls(year, week)

    @classmethod
    def of(cls, day: date) -> IsoWeek:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @classmethod
    def previous_of(cls, moment: datetime) -> IsoWeek:
        """The ISO week before the one containing ``moment`` (in UTC)."""
        return cls.of(moment.astimezone(UTC).date() - timedelta(days=7))

    @property
    def label(self) -> str:
        return f"{self.year:04d}-W{self.week:02d}"

    @property
    def first_day(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def last_day(self) -> date:
        return self.first_day + timedelta(days=6)

    @property
    def start(self) -> datetime:
        """Monday 00:00 UTC."""
        return datetime.combine(self.first_day, time(0), tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The cutoff: the next Monday 00:00 UTC (exclusive)."""
        return self.start + timedelta(days=7)

    def next(self) -> IsoWeek:
        return IsoWeek.of(self.first_day + timedelta(days=7))

    def __str__(self) -> str:
        return self.label
