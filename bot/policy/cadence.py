"""Scan cadence: expected scan windows from a cron expression and the windows with no scan.

Each scheduled run ``t_i`` (cron fire time, evaluated in UTC, ``start <= t_i < end``) owns
the window ``[t_(i-1) + grace, t_i + grace)``: a scan received in it satisfies that run, so a
scan may come early (any time after the previous run's deadline) or up to ``grace`` late.
Windows are contiguous and never overlap, so one scan never covers two runs.
A window is *missed* once its end is at or before ``now`` and no scan falls inside it.
Call these per declared target with that target's scan times.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from croniter import croniter

Window = tuple[datetime, datetime]


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware datetime")
    return moment.astimezone(UTC)


def expected_windows(cron: str, grace: timedelta, start: datetime, end: datetime) -> list[Window]:
    """One ``(window_start, window_end)`` per cron run in ``[start, end)``, in order."""
    if grace < timedelta(0):
        raise ValueError("grace must not be negative")
    start_utc, end_utc = _utc(start), _utc(end)
    runs = croniter(cron, start_utc - timedelta(microseconds=1))
    previous: datetime = croniter(cron, start_utc - timedelta(microseconds=1)).get_prev(datetime)
    windows: list[Window] = []
    while True:
        run: datetime = runs.get_next(datetime)
        if run >= end_utc:
            return windows
        windows.append((previous + grace, run + grace))
        previous = run


def missed_windows(
    cron: str,
    grace: timedelta,
    scans: Sequence[datetime],
    start: datetime,
    end: datetime,
    now: datetime,
) -> list[Window]:
    """Expected windows (see :func:`expected_windows`) that closed by ``now`` with no scan."""
    now_utc = _utc(now)
    times = sorted(_utc(s) for s in scans)
    missed: list[Window] = []
    for window_start, window_end in expected_windows(cron, grace, start, end):
        if window_end > now_utc:
            continue
        i = bisect_left(times, window_start)
        if i == len(times) or times[i] >= window_end:
            missed.append((window_start, window_end))
    return missed
