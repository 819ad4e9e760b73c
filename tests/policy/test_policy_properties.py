"""Property tests: due dates only tighten; reminder keys are unique; at most one slot per kind."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.policy import (
    PRESETS,
    SEVERITIES,
    Policy,
    Severity,
    due_date,
    due_slot,
    escalated_due,
    load_preset,
    next_slot_after,
    reminder_slots_between,
    tighten,
)

ZONES = [ZoneInfo(z) for z in ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe")]
POLICIES = [load_preset(p) for p in PRESETS]

moments = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.just(UTC),
)
severities = st.sampled_from(SEVERITIES)
zones = st.sampled_from(ZONES)
policies = st.sampled_from(POLICIES)

step = st.tuples(
    st.sampled_from(["escalate", "recompute", "kev"]),
    severities,
    st.integers(min_value=-30, max_value=400),  # days from first seen
    st.one_of(st.none(), st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 1, 1))),
)


@settings(max_examples=300, deadline=None, database=None)
@given(policies, zones, moments, severities, st.lists(step, max_size=12))
def test_due_dates_only_tighten(
    policy: Policy,
    tz: ZoneInfo,
    first_seen: datetime,
    initial: Severity,
    steps: list[tuple[str, Severity, int, date | None]],
) -> None:
    first_day = first_seen.astimezone(tz).date()
    due = due_date(policy, initial, first_seen, tz)
    for kind, severity, offset, catalog_due in steps:
        at = first_seen + timedelta(days=offset)
        if kind == "recompute":
            proposed = due_date(policy, severity, first_seen, tz)
            new, changed = tighten(due, proposed)
            assert changed == (new != due)
        else:
            new = escalated_due(
                policy,
                current_due=due,
                first_seen=first_seen,
                escalated_at=at,
                new_severity=severity,
                tz=tz,
                kev_catalog_due=catalog_due if kind == "kev" else None,
            )
        if due is not None:
            assert new is not None and new <= due
        if new is not None:
            assert new >= first_day
        due = new


@settings(max_examples=200, deadline=None, database=None)
@given(
    policies,
    zones,
    moments,
    st.integers(min_value=-20, max_value=120),
    st.integers(min_value=1, max_value=200),
)
def test_reminder_keys_unique_and_ordered(
    policy: Policy, tz: ZoneInfo, opened_at: datetime, due_offset: int, span: int
) -> None:
    due = opened_at.astimezone(tz).date() + timedelta(days=due_offset)
    slots = reminder_slots_between(
        policy,
        opened_at=opened_at,
        due=due,
        tz=tz,
        start=opened_at,
        end=opened_at + timedelta(days=span),
    )
    keys = [s.key for s in slots]
    assert len(keys) == len(set(keys))
    assert [s.at for s in slots] == sorted(s.at for s in slots)
    assert slots[0].kind == "open"
    for slot in slots[1:]:
        local = slot.at.astimezone(tz)
        assert slot.key == f"{slot.kind}:{local.date().isoformat()}"
        assert local.date().weekday() < 5 or slot.kind == "reminder"
        assert slot.at > opened_at
    # next_slot_after walks the same schedule.
    for before, after in itertools.pairwise(slots):
        if after.at > before.at:
            assert next_slot_after(
                policy, opened_at=opened_at, due=due, tz=tz, after=before.at
            ) == (after.at)


@settings(max_examples=200, deadline=None, database=None)
@given(
    policies,
    zones,
    moments,
    st.integers(min_value=-20, max_value=120),
    st.integers(min_value=0, max_value=200 * 24),
    st.one_of(st.none(), st.integers(min_value=0, max_value=200 * 24)),
)
def test_due_slot_at_most_one_per_kind(
    policy: Policy,
    tz: ZoneInfo,
    opened_at: datetime,
    due_offset: int,
    now_hours: int,
    sent_hours: int | None,
) -> None:
    due = opened_at.astimezone(tz).date() + timedelta(days=due_offset)
    now = opened_at + timedelta(hours=now_hours)
    last = None if sent_hours is None else opened_at + timedelta(hours=min(sent_hours, now_hours))
    slots = due_slot(policy, opened_at=opened_at, due=due, tz=tz, now=now, last_sent_at=last)
    kinds = [s.kind for s in slots]
    assert len(kinds) == len(set(kinds))
    window = reminder_slots_between(
        policy,
        opened_at=opened_at,
        due=due,
        tz=tz,
        start=opened_at - timedelta(days=1),
        end=now + timedelta(microseconds=1),
    )
    for slot in slots:
        assert last is None or slot.at > last
        assert slot.at <= now
        # It is the latest slot of its kind in the window.
        same = [s for s in window if s.kind == slot.kind and (last is None or s.at > last)]
        assert same and same[-1] == slot
