from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.policy import (
    ReminderSlot,
    default_policy,
    due_date,
    due_slot,
    escalation_start,
    load_policy_text,
    next_slot_after,
    reminder_slots_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")
POLICY = default_policy()
OPENED = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday, 09:00 in Berlin (CET)
SPAN_END = datetime(2026, 6, 30, tzinfo=BERLIN)  # 120 days after opening


def _business_days(first: date, last: date) -> list[date]:
    days = []
    day = first
    while day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def _local(slot: ReminderSlot) -> datetime:
    return slot.at.astimezone(BERLIN)


def _days(slots: list[ReminderSlot], kind: str) -> list[date]:
    return [_local(s).date() for s in slots if s.kind == kind]


def test_critical_cadence_over_120_days() -> None:
    due = due_date(POLICY, "critical", OPENED, BERLIN)
    assert due == date(2026, 4, 1)
    slots = reminder_slots_between(
        POLICY, opened_at=OPENED, due=due, tz=BERLIN, start=OPENED, end=SPAN_END
    )
    assert slots[0] == ReminderSlot(OPENED, "open", "open")
    reminders = _days(slots, "reminder")
    weekly = [date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 23)]
    assert reminders[:3] == weekly
    # From 7 days left (25 March) every business day, through the due date and after it.
    assert reminders[3:8] == [
        date(2026, 3, 25),
        date(2026, 3, 26),
        date(2026, 3, 27),
        date(2026, 3, 30),
        date(2026, 3, 31),
    ]
    assert reminders[3:] == _business_days(date(2026, 3, 25), date(2026, 6, 29))
    # Escalation from 3 days overdue: 4 April is a Saturday -> Monday 6 April, then weekly.
    escalations = _days(slots, "escalation")
    assert escalations[:3] == [date(2026, 4, 6), date(2026, 4, 13), date(2026, 4, 20)]
    assert escalations[-1] == date(2026, 6, 29)
    assert len(escalations) == 13
    assert escalation_start(POLICY, due) == date(2026, 4, 6)
    # Every non-open slot is at 09:00 local, before and after the 29 March DST change.
    assert {_local(s).hour for s in slots[1:]} == {9}
    assert {_local(s).minute for s in slots[1:]} == {0}
    assert slots[1].at == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    march_30 = next(s for s in slots if s.key == "reminder:2026-03-30")
    assert march_30.at == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)


def test_medium_cadence_over_120_days() -> None:
    due = due_date(POLICY, "medium", OPENED, BERLIN)
    assert due == date(2026, 5, 31)  # a Sunday
    slots = reminder_slots_between(
        POLICY, opened_at=OPENED, due=due, tz=BERLIN, start=OPENED, end=SPAN_END
    )
    reminders = _days(slots, "reminder")
    weekly = [date(2026, 3, 2) + timedelta(days=7 * k) for k in range(1, 12)]
    assert weekly[-1] == date(2026, 5, 18)  # 13 days left; 25 May has 6 left
    assert reminders[:11] == weekly
    assert reminders[11:] == _business_days(date(2026, 5, 25), date(2026, 6, 29))
    assert reminders[11:17] == [
        date(2026, 5, 25),
        date(2026, 5, 26),
        date(2026, 5, 27),
        date(2026, 5, 28),
        date(2026, 5, 29),
        date(2026, 6, 1),
    ]
    assert _days(slots, "escalation") == [
        date(2026, 6, 3),
        date(2026, 6, 10),
        date(2026, 6, 17),
        date(2026, 6, 24),
    ]
    assert len(slots) == 1 + 11 + 26 + 4
    assert len({s.key for s in slots}) == len(slots)
    assert [s.at for s in slots] == sorted(s.at for s in slots)


def test_dst_both_directions_new_york() -> None:
    opened = datetime(2026, 2, 20, 15, 0, tzinfo=UTC)
    due = date(2026, 3, 12)  # daily window spans the 8 March spring-forward
    slots = reminder_slots_between(
        POLICY,
        opened_at=opened,
        due=due,
        tz=NY,
        start=opened,
        end=datetime(2026, 3, 14, tzinfo=UTC),
    )
    by_key = {s.key: s.at for s in slots}
    assert by_key["reminder:2026-03-06"] == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)  # EST
    assert by_key["reminder:2026-03-09"] == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)  # EDT
    assert "reminder:2026-03-07" not in by_key and "reminder:2026-03-08" not in by_key
    opened = datetime(2026, 10, 20, 15, 0, tzinfo=UTC)
    slots = reminder_slots_between(
        POLICY,
        opened_at=opened,
        due=date(2026, 11, 3),
        tz=NY,
        start=opened,
        end=datetime(2026, 11, 5, tzinfo=UTC),
    )
    by_key = {s.key: s.at for s in slots}
    assert by_key["reminder:2026-10-30"] == datetime(2026, 10, 30, 13, 0, tzinfo=UTC)  # EDT
    assert by_key["reminder:2026-11-02"] == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # EST
    assert {s.at.astimezone(NY).hour for s in slots if s.kind != "open"} == {9}


def test_policy_hour_and_intervals() -> None:
    policy = load_policy_text(
        "[reminders]\nhour = 14\nweekly_interval_days = 3\ndaily_window_days = 2\n"
        "escalate_after_overdue_days = 0\nescalation_interval_days = 14\n",
        "p.toml",
    )
    opened = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # Monday
    due = date(2026, 3, 13)  # Friday
    slots = reminder_slots_between(
        policy,
        opened_at=opened,
        due=due,
        tz=BERLIN,
        start=opened,
        end=datetime(2026, 3, 31, tzinfo=UTC),
    )
    assert _days(slots, "reminder")[:5] == [
        date(2026, 3, 5),
        date(2026, 3, 8),  # weekly-phase slots fall on any weekday
        date(2026, 3, 11),
        date(2026, 3, 12),
        date(2026, 3, 13),
    ]
    assert _days(slots, "escalation") == [date(2026, 3, 13), date(2026, 3, 27)]
    assert {_local(s).hour for s in slots[1:]} == {14}


def test_no_due_date_only_open_slot() -> None:
    slots = reminder_slots_between(
        POLICY,
        opened_at=OPENED,
        due=None,
        tz=BERLIN,
        start=OPENED - timedelta(days=1),
        end=OPENED + timedelta(days=400),
    )
    assert slots == [ReminderSlot(OPENED, "open", "open")]
    assert next_slot_after(POLICY, opened_at=OPENED, due=None, tz=BERLIN, after=OPENED) is None
    before = OPENED - timedelta(seconds=1)
    assert next_slot_after(POLICY, opened_at=OPENED, due=None, tz=BERLIN, after=before) == OPENED


def test_no_reminder_on_the_opening_day() -> None:
    opened = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # 07:00 local, before the 09:00 slot
    slots = reminder_slots_between(
        POLICY,
        opened_at=opened,
        due=date(2026, 3, 4),
        tz=BERLIN,
        start=opened,
        end=datetime(2026, 3, 4, tzinfo=UTC),
    )
    assert [s.key for s in slots] == ["open", "reminder:2026-03-03"]


CRIT_DUE = date(2026, 4, 1)


def _between(start: datetime, end: datetime) -> list[str]:
    slots = reminder_slots_between(
        POLICY, opened_at=OPENED, due=CRIT_DUE, tz=BERLIN, start=start, end=end
    )
    return [s.key for s in slots]


def _due(now: datetime, last_sent_at: datetime | None) -> list[str]:
    slots = due_slot(
        POLICY, opened_at=OPENED, due=CRIT_DUE, tz=BERLIN, now=now, last_sent_at=last_sent_at
    )
    assert [s.at for s in slots] == sorted(s.at for s in slots)
    return [s.key for s in slots]


def _next(after: datetime) -> datetime | None:
    return next_slot_after(POLICY, opened_at=OPENED, due=CRIT_DUE, tz=BERLIN, after=after)


def test_between_is_half_open() -> None:
    at = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert _between(at, at + timedelta(seconds=1)) == ["reminder:2026-03-09"]
    assert _between(at - timedelta(hours=1), at) == []


def test_due_slot_sends_latest_missed_only() -> None:
    # First tick right after opening: the open slot.
    assert _due(OPENED + timedelta(minutes=1), None) == ["open"]
    # Nothing new before the next slot; exactly at the slot time it is due.
    assert _due(datetime(2026, 3, 9, 7, 59, tzinfo=UTC), OPENED) == []
    assert _due(datetime(2026, 3, 9, 8, 0, tzinfo=UTC), OPENED) == ["reminder:2026-03-09"]
    # Already sent: a second tick at the same time sends nothing.
    sent = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    assert _due(datetime(2026, 3, 9, 8, 5, tzinfo=UTC), sent) == []
    # A tick after a long outage: the latest reminder and the latest escalation only.
    late = _due(datetime(2026, 4, 15, 12, 0, tzinfo=UTC), sent)
    assert late == ["escalation:2026-04-13", "reminder:2026-04-15"]
    # First ever tick long after opening: open slot plus the latest of each other kind.
    never = _due(datetime(2026, 4, 7, 12, 0, tzinfo=UTC), None)
    assert never == ["open", "escalation:2026-04-06", "reminder:2026-04-07"]
    # Escalation and reminder of the same day.
    both = _due(datetime(2026, 4, 6, 7, 0, tzinfo=UTC), datetime(2026, 4, 3, 7, 0, tzinfo=UTC))
    assert both == ["reminder:2026-04-06", "escalation:2026-04-06"]


def test_next_slot_after() -> None:
    assert _next(OPENED) == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)
    # Over the weekend and the 29 March DST change.
    assert _next(datetime(2026, 3, 27, 8, 0, tzinfo=UTC)) == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)
    # Long overdue: still reminded every business day.
    assert _next(datetime(2027, 1, 1, 12, 0, tzinfo=UTC)) == datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    assert _next(OPENED - timedelta(days=3)) == OPENED


def test_naive_datetimes_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        due_slot(
            POLICY,
            opened_at=OPENED,
            due=date(2026, 4, 1),
            tz=BERLIN,
            now=datetime(2026, 3, 9),
            last_sent_at=None,
        )
