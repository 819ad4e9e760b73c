"""Reminder schedule (DESIGN.md "Reminder cadence"), as pure functions.

With ``days_left = due - day`` (local dates in ``tz``) the slots of a ticket are:

- ``open`` at the moment the ticket opened (key ``"open"``);
- ``reminder`` on local days after the opening day, at ``reminders.hour`` local time:
  every ``weekly_interval_days`` days counted from the opening day while
  ``days_left > daily_window_days``; then every business day (Mon-Fri) while
  ``days_left <= daily_window_days`` - before, on and after the due date;
- ``escalation`` on the first business day at or after ``due + escalate_after_overdue_days``,
  then every ``escalation_interval_days`` days (same weekday), also at the policy hour.

Keys are ``"<kind>:<local date>"`` (``"reminder:2026-03-04"``), so ticket id + key is a stable
idempotency key even when the due date is later tightened. Slot times are UTC; they sit at the
policy hour local time on both sides of a DST change. A ticket without a due date only gets the
``open`` slot. No reminder falls on the opening day itself (the open message covers it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from bot.policy.models import Policy
from bot.policy.sla import local_date

SlotKind = Literal["open", "reminder", "escalation"]
_MAX_SEARCH_DAYS = 3660


@dataclass(frozen=True, slots=True)
class ReminderSlot:
    at: datetime  # aware, UTC
    kind: SlotKind
    key: str


def _slot(day: date, kind: SlotKind, policy: Policy, tz: tzinfo) -> ReminderSlot:
    local = datetime.combine(day, time(policy.reminders.hour), tzinfo=tz)
    return ReminderSlot(local.astimezone(UTC), kind, f"{kind}:{day.isoformat()}")


def _is_business_day(day: date) -> bool:
    return day.weekday() < 5


def escalation_start(policy: Policy, due: date) -> date:
    """First business day at or after ``due + escalate_after_overdue_days``."""
    day = due + timedelta(days=policy.reminders.escalate_after_overdue_days)
    while not _is_business_day(day):
        day += timedelta(days=1)
    return day


def _day_slots(
    policy: Policy, opened_day: date, due: date, day: date, tz: tzinfo
) -> list[ReminderSlot]:
    r = policy.reminders
    out: list[ReminderSlot] = []
    days_left = (due - day).days
    if days_left > r.daily_window_days:
        if (day - opened_day).days % r.weekly_interval_days == 0:
            out.append(_slot(day, "reminder", policy, tz))
    elif _is_business_day(day):
        out.append(_slot(day, "reminder", policy, tz))
    first_escalation = escalation_start(policy, due)
    if day >= first_escalation and (day - first_escalation).days % r.escalation_interval_days == 0:
        out.append(_slot(day, "escalation", policy, tz))
    return out


def iter_slots(
    policy: Policy,
    *,
    opened_at: datetime,
    due: date | None,
    tz: tzinfo,
    from_day: date | None = None,
) -> Iterator[ReminderSlot]:
    """All slots in time order: ``open`` first, then day slots from ``from_day`` (local date).

    Infinite when ``due`` is set (an overdue ticket is reminded every business day).
    """
    opened_day = local_date(opened_at, tz)
    yield ReminderSlot(opened_at.astimezone(UTC), "open", "open")
    if due is None:
        return
    day = opened_day + timedelta(days=1)
    if from_day is not None and from_day > day:
        day = from_day
    while True:
        yield from _day_slots(policy, opened_day, due, day, tz)
        day += timedelta(days=1)


def _require_aware(*moments: datetime | None) -> None:
    for moment in moments:
        if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
            raise ValueError(f"naive datetime {moment.isoformat()}: pass an aware datetime")


def reminder_slots_between(
    policy: Policy,
    *,
    opened_at: datetime,
    due: date | None,
    tz: tzinfo,
    start: datetime,
    end: datetime,
) -> list[ReminderSlot]:
    """Slots with ``start <= at < end``, in time order."""
    _require_aware(opened_at, start, end)
    from_day = local_date(start, tz) - timedelta(days=1)
    out: list[ReminderSlot] = []
    for slot in iter_slots(policy, opened_at=opened_at, due=due, tz=tz, from_day=from_day):
        if slot.at >= end:
            break
        if slot.at >= start:
            out.append(slot)
    return out


def due_slot(
    policy: Policy,
    *,
    opened_at: datetime,
    due: date | None,
    tz: tzinfo,
    now: datetime,
    last_sent_at: datetime | None,
) -> list[ReminderSlot]:
    """The slots a tick at ``now`` should send: the latest slot of each kind in
    ``(last_sent_at, now]`` (all of time up to ``now`` when nothing was sent yet).

    A tick that missed several slots sends only the latest of each kind - no bursts.
    At most one slot per kind, in time order.
    """
    _require_aware(opened_at, now, last_sent_at)
    from_day = None if last_sent_at is None else local_date(last_sent_at, tz) - timedelta(days=1)
    latest: dict[SlotKind, ReminderSlot] = {}
    for slot in iter_slots(policy, opened_at=opened_at, due=due, tz=tz, from_day=from_day):
        if slot.at > now:
            break
        if last_sent_at is None or slot.at > last_sent_at:
            latest[slot.kind] = slot
    return sorted(latest.values(), key=lambda s: s.at)


def next_slot_after(
    policy: Policy,
    *,
    opened_at: datetime,
    due: date | None,
    tz: tzinfo,
    after: datetime,
) -> datetime | None:
    """Time of the first slot strictly after ``after`` (for an indexed ``next_reminder_at``);
    None when the schedule has no further slot (no due date and the open slot is past)."""
    _require_aware(opened_at, after)
    from_day = local_date(after, tz) - timedelta(days=1)
    limit = after + timedelta(days=_MAX_SEARCH_DAYS)
    for slot in iter_slots(policy, opened_at=opened_at, due=due, tz=tz, from_day=from_day):
        if slot.at > after:
            return slot.at
        if slot.at > limit:
            break
    return None
