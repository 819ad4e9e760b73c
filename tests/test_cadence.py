"""Scan cadence: a skipped weekly scan is one gap, recorded once, in the right week's snapshot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.cadence.rules import find_gaps
from bot.cadence.service import schedule_cadence_check
from bot.context import AppContext
from bot.database.core import transaction
from bot.events import kinds
from bot.events.models import Event
from bot.jobs.models import Job
from bot.policy import load_policy_text
from bot.snapshots.document import build_snapshot
from bot.snapshots.weeks import IsoWeek
from tests.test_snapshot_support import D0, History

TARGET = "https://app.example.com"


def test_find_gaps_pure() -> None:
    scans = {TARGET: [D0 + timedelta(weeks=k, hours=-1) for k in (0, 1, 3)]}
    gaps = find_gaps(
        scans,
        ["never.example.com"],
        cron="0 2 * * 1",
        grace=timedelta(hours=24),
        now=D0 + timedelta(weeks=4),
    )
    assert [(g.target, g.window_start, g.window_end) for g in gaps] == [
        (TARGET, D0 + timedelta(weeks=1, days=1, hours=2), D0 + timedelta(weeks=2, days=1, hours=2))
    ]
    assert gaps[0].external_id == f"scan.missed:{TARGET}:2026-01-20T02:00:00.000000Z"
    long = find_gaps(
        {"x" * 300: scans[TARGET]},
        [],
        cron="0 2 * * 1",
        grace=timedelta(hours=24),
        now=D0 + timedelta(weeks=4),
    )
    assert len(long[0].external_id) < 256


def test_skipped_week_is_one_gap_in_that_weeks_snapshot(ctx: AppContext) -> None:
    ctx.policy = load_policy_text('[scan_cadence]\ntargets = ["https://declared.example.com"]\n')
    h = History(ctx)
    weeks = [IsoWeek(2026, n) for n in range(2, 9)]
    for week in weeks:
        if week.week != 5:
            h.scan(week.start + timedelta(hours=1), TARGET)  # Monday 01:00, before the run
        for tick in (week.start + timedelta(days=1, hours=3), week.start + timedelta(days=4)):
            with transaction(ctx.sessions) as session:
                schedule_cadence_check(ctx, session, tick)
    with ctx.sessions() as session:
        missed = session.scalars(select(Event).where(Event.kind == kinds.SCAN_MISSED)).all()
        jobs = session.scalars(select(Job).where(Job.kind == "notify.scan_missed")).all()
    assert len(missed) == 1 and len(jobs) == 1
    gap = missed[0]
    assert gap.details == {
        "target": TARGET,
        "window_start": "2026-01-20T02:00:00.000000Z",
        "window_end": "2026-01-27T02:00:00.000000Z",
        "cron": "0 2 * * 1",
    }
    assert gap.at == datetime(2026, 1, 27, 2, tzinfo=UTC)
    assert gap.external_id == f"scan.missed:{TARGET}:2026-01-27T02:00:00.000000Z"
    assert jobs[0].idempotency_key == f"notify.scan_missed:{TARGET}:2026-01-27T02:00:00.000000Z"
    assert jobs[0].payload["target"] == TARGET

    per_week = {}
    with ctx.sessions() as session:
        for week in weeks:
            doc = build_snapshot(session, week=week, policy=ctx.policy, tz=ctx.tz, now=week.end)
            per_week[week.week] = doc.data["figures"]["cadence_gaps"]
            cadence = doc.data["metadata"]["policy"]["scan_cadence"]
            assert cadence["never_scanned"] == ["https://declared.example.com"]
    assert {w: len(g) for w, g in per_week.items()} == {2: 0, 3: 0, 4: 0, 5: 1, 6: 0, 7: 0, 8: 0}
    assert per_week[5][0]["recorded"] is True
    assert per_week[5][0]["window_end"] == "2026-01-27T02:00:00.000000Z"


def test_gap_is_in_the_snapshot_even_if_the_checker_never_ran(ctx: AppContext) -> None:
    h = History(ctx)
    for n in (2, 3, 5):
        h.scan(IsoWeek(2026, n).start + timedelta(hours=1), TARGET)
    week = IsoWeek(2026, 4)
    with ctx.sessions() as session:
        doc = build_snapshot(session, week=week, policy=ctx.policy, tz=ctx.tz, now=week.end)
    gaps = doc.data["figures"]["cadence_gaps"]
    assert [(g["target"], g["window_end"], g["recorded"]) for g in gaps] == [
        (TARGET, "2026-01-20T02:00:00.000000Z", False)
    ]
