"""Scan-cadence gaps (pure): which expected scan windows of which targets had no scan.

Declared targets are the policy's ``scan_cadence.targets`` plus every target a scan has named.
A target's windows (:func:`bot.policy.missed_windows`: the policy cron plus the grace period)
start at its first scan: before that slabot has no evidence the target was ever meant to be
scanned on this cadence, so a declared target that was never scanned yields no gap (it is
reported as ``never_scanned`` by :func:`never_scanned`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.events.chain import iso_utc
from bot.policy import missed_windows

MAX_TARGET_IN_ID = 200


@dataclass(frozen=True, slots=True, order=True)
class Gap:
    window_end: datetime
    target: str
    window_start: datetime
    cron: str

    @property
    def external_id(self) -> str:
        """Unique per target and window: the ``scan.missed`` event is recorded once."""
        target = self.target
        if len(target) > MAX_TARGET_IN_ID:  # the events.external_id column holds 256 chars
            target = "sha256-" + hashlib.sha256(target.encode()).hexdigest()
        return f"scan.missed:{target}:{iso_utc(self.window_end)}"

    def as_json(self) -> dict[str, str]:
        return {
            "target": self.target,
            "window_start": iso_utc(self.window_start),
            "window_end": iso_utc(self.window_end),
            "cron": self.cron,
        }


def declared_targets(policy_targets: Iterable[str], seen: Iterable[str]) -> list[str]:
    return sorted(set(policy_targets) | set(seen))


def never_scanned(
    policy_targets: Iterable[str], scan_times: Mapping[str, Sequence[datetime]]
) -> list[str]:
    return sorted(t for t in set(policy_targets) if not scan_times.get(t))


def find_gaps(
    scan_times: Mapping[str, Sequence[datetime]],
    policy_targets: Iterable[str],
    *,
    cron: str,
    grace: timedelta,
    now: datetime,
) -> list[Gap]:
    """Every window that closed by ``now`` with no scan, per declared target, oldest first."""
    gaps: list[Gap] = []
    for target in declared_targets(policy_targets, scan_times):
        times = scan_times.get(target) or ()
        if not times:
            continue
        first = min(times)
        for start, end in missed_windows(cron, grace, times, first, now, now):
            gaps.append(Gap(end, target, start, cron))
    gaps.sort()
    return gaps
