"""Property: a snapshot written on time equals ``evidence week`` regenerated much later.

Random 30-week histories (tickets opened, status changes including stale deliveries and late
recordings, risk acceptances approved and expired, due-date changes, reopenings, scans with
skipped weeks, KEV catalog loads) are appended through the real event log with
``recorded_at`` = the simulated now. Each week's snapshot is written at Monday 02:00 after the
week; after all 30 weeks every week is regenerated from the log and must match the stored
snapshot in every count and list.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from bot.cadence.service import schedule_cadence_check
from bot.context import AppContext
from bot.database.core import transaction
from bot.events import kinds
from bot.events.service import NewEvent
from bot.snapshots.document import build_snapshot
from bot.snapshots.evidence_week import compare_with_stored, regenerate_week
from bot.snapshots.service import stored_snapshot, write_snapshot
from bot.snapshots.weeks import IsoWeek
from integrations.evidence import LocalEvidenceStore
from tests.conftest import _empty_all_tables
from tests.test_snapshot_support import History

WEEKS = 30
FIRST = IsoWeek(2026, 2)
TARGETS = ("https://a.example.com", "https://b.example.com")

SEVERITY = st.sampled_from(["critical", "high", "medium"])
STATUS = st.sampled_from(["in_progress", "resolved", "open", "resolved_unverified"])
LATE = st.booleans()
TICKET = st.integers(0, 50)
op = st.one_of(  # (name, a, b, late)
    st.tuples(st.just("open"), SEVERITY, st.integers(-5, 40), LATE),
    st.tuples(st.just("status"), TICKET, STATUS, LATE),
    st.tuples(st.just("approve"), TICKET, st.integers(1, 30), LATE),
    st.tuples(st.just("expire"), TICKET, st.just(0), LATE),
    st.tuples(st.just("due"), TICKET, st.integers(-10, 30), LATE),
    st.tuples(st.just("reopen"), TICKET, st.integers(1, 30), LATE),
    st.tuples(st.just("kev"), st.integers(0, 3), st.just(0), LATE),
)
week_ops = st.tuples(
    st.lists(st.tuples(st.integers(0, 7 * 24 - 1), op), max_size=5),
    st.lists(st.booleans(), min_size=len(TARGETS), max_size=len(TARGETS)),  # scanned?
)


def _apply(h: History, week: IsoWeek, hour: int, action: tuple[object, ...]) -> None:
    now = week.start + timedelta(hours=hour, minutes=7)
    name, a, b, late = action
    # a "late" event happened in the week but is recorded after its end (a delayed webhook)
    recorded = week.end + timedelta(hours=1) if late else now
    opened = sorted(h.statuses)
    if name == "open":
        assert isinstance(a, str) and isinstance(b, int)
        h.open_ticket(now, severity=a, due=now.date() + timedelta(days=b), kev=bool(late))
        return
    if name == "kev":
        h.kev_loaded(now, f"2026.{a}")
        return
    if not opened:
        return
    assert isinstance(a, int)
    tid = opened[a % len(opened)]
    if name == "status":
        assert isinstance(b, str)
        h.emit(
            recorded,
            NewEvent(
                kind=kinds.TICKET_STATUS_CHANGED,
                at=now,
                source="jira",
                ticket_id=tid,
                from_state=h.statuses[tid],
                to_state=b,
                details={"applied": hour % 5 != 0},  # some stale deliveries
            ),
        )
        if hour % 5 != 0:
            h.statuses[tid] = b
    elif name == "approve":
        assert isinstance(b, int)
        h.approve(now, tid, days=b)
    elif name == "expire":
        h.expire(now, tid)
    elif name == "due":
        assert isinstance(b, int)
        h.due_change(now, tid, now.date() + timedelta(days=b))
    elif name == "reopen":
        assert isinstance(b, int)
        h.reopen(now, tid, now.date() + timedelta(days=b))


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(history=st.lists(week_ops, min_size=WEEKS, max_size=WEEKS))
def test_on_time_snapshots_match_later_evidence_week(
    ctx: AppContext,
    engine: Engine,
    history: list[tuple[list[tuple[int, tuple[object, ...]]], list[bool]]],
) -> None:
    _empty_all_tables(engine)
    with tempfile.TemporaryDirectory() as tmp:
        sim = replace(ctx, evidence=LocalEvidenceStore(Path(tmp) / "evidence"))
        h = History(sim)
        weeks = []
        week = FIRST
        for ops, scanned in history:
            weeks.append(week)
            for i, target in enumerate(TARGETS):
                if scanned[i]:
                    h.scan(week.start + timedelta(hours=1 + i), target)
            for hour, action in sorted(ops, key=lambda o: o[0]):
                _apply(h, week, hour, action)
            with transaction(sim.sessions) as session:
                schedule_cadence_check(sim, session, week.start + timedelta(days=1, hours=3))
            write_snapshot(sim, week=week, now=week.end + timedelta(hours=2))
            week = week.next()
        later = week.end + timedelta(days=3)
        # every week through the comparison evidence week uses; two weeks through the whole
        # command path (files included)
        with sim.sessions() as session:
            for w in weeks:
                doc = build_snapshot(session, week=w, policy=sim.policy, tz=sim.tz, now=later)
                comparison = compare_with_stored(sim.evidence, stored_snapshot(session, w), doc)
                assert comparison["matches"] is True, (w.label, comparison)
        for w in (weeks[0], weeks[-1]):
            result = regenerate_week(sim, week=w, out_dir=Path(tmp) / w.label, now=later)
            assert result.comparison["matches"] is True, (w.label, result.comparison)
