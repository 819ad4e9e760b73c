"""Weekly snapshot: replay, figures, the document, writing once per week, clock and job."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select, text

from bot.context import AppContext
from bot.database.core import transaction
from bot.events import kinds
from bot.events.models import Event
from bot.events.service import iter_rows, verify
from bot.jobs.models import Job
from bot.jobs.runner import run_due_jobs
from bot.snapshots.document import build_snapshot
from bot.snapshots.models import Snapshot
from bot.snapshots.reader import read_until, stream_rows
from bot.snapshots.replay import _HANDLERS, replay
from bot.snapshots.service import (
    SnapshotError,
    due_week,
    schedule_weekly_snapshot,
    snapshot_job,
    write_snapshot,
)
from bot.snapshots.weeks import IsoWeek, WeekFormatError
from tests.test_snapshot_support import D0, History

W02 = IsoWeek(2026, 2)


def _build(ctx: AppContext, week: IsoWeek, now: datetime) -> Any:
    with ctx.sessions() as session:
        return build_snapshot(session, week=week, policy=ctx.policy, tz=ctx.tz, now=now)


def test_iso_week_parsing_and_bounds() -> None:
    week = IsoWeek.parse("2026-W02")
    assert week == W02 and week.label == "2026-W02"
    assert week.start == D0 and week.end == D0 + timedelta(days=7)
    assert (week.first_day, week.last_day) == (date(2026, 1, 5), date(2026, 1, 11))
    assert IsoWeek.previous_of(datetime(2026, 1, 12, 2, tzinfo=UTC)) == W02
    assert IsoWeek.parse("2020-W53").last_day == date(2021, 1, 3)
    for bad in ("2026-2", "2026-W2", "2026W02", "2026-W54", "2025-W53", "", "x"):
        with pytest.raises(WeekFormatError):
            IsoWeek.parse(bad)


def test_every_status_kind_is_replayed() -> None:
    assert set(_HANDLERS) >= kinds.STATUS_KINDS


def _rows(ctx: AppContext) -> list[dict[str, Any]]:
    with ctx.sessions() as session:
        return list(iter_rows(session))


def test_replay_status_exceptions_due_and_cutoff(ctx: AppContext) -> None:
    h = History(ctx)
    t1 = h.open_ticket(D0 + timedelta(hours=1), severity="critical", kev=True)
    t2 = h.open_ticket(D0 + timedelta(hours=2))
    h.status(D0 + timedelta(hours=3), t1, "in_progress")
    h.status(D0 + timedelta(hours=4), t1, "resolved", applied=False)  # stale: ignored
    h.approve(D0 + timedelta(days=1), t2, days=20)
    h.due_change(D0 + timedelta(days=2), t1, date(2026, 1, 9))
    h.status(D0 + timedelta(days=3), t1, "resolved")
    h.reopen(D0 + timedelta(days=4), t1, date(2026, 2, 1))
    h.kev_loaded(D0 + timedelta(days=4), "2026.01.09")
    # recorded after the cutoff although it happened inside the week: not in the state
    late = W02.end + timedelta(hours=1)
    h.status(late, t2, "resolved")
    state = replay(_rows(ctx), cutoff=W02.end, period_start=W02.start)
    one, two = state.tickets[t1], state.tickets[t2]
    assert (one.status, one.due_date, one.resolved_at, one.kev) == (
        "open",
        "2026-02-01",
        None,
        True,
    )
    assert one.clock_started_at == D0 + timedelta(days=4)
    assert two.status == "risk_accepted"
    assert two.acceptance is not None
    assert (two.acceptance.approver, two.acceptance.expires_on) == ("Sec Lead", "2026-01-26")
    assert state.kev_catalog_version == "2026.01.09"
    assert state.head_seq == 9  # the late status change is seq 10
    later = replay(_rows(ctx), cutoff=late + timedelta(seconds=1), period_start=W02.start)
    assert later.tickets[t2].status == "resolved" and later.tickets[t2].acceptance is None


def test_snapshot_figures(ctx: AppContext) -> None:
    h = History(ctx)
    before = D0 - timedelta(days=20)
    overdue = h.open_ticket(before, severity="critical", due=date(2026, 1, 1), kev=True)
    excepted = h.open_ticket(before, severity="high", due=date(2026, 1, 2))
    met = h.open_ticket(before, severity="high", due=date(2026, 2, 1))
    missed = h.open_ticket(before, severity="medium", due=date(2026, 1, 6))
    lapsed = h.open_ticket(before, severity="medium", due=date(2026, 1, 3))
    fine = h.open_ticket(D0 + timedelta(hours=5), severity="medium", due=date(2026, 1, 15))
    h.approve(D0 + timedelta(hours=1), excepted, days=30)
    h.approve(before + timedelta(days=1), lapsed, days=3)  # expired by date, no expiry event
    h.status(D0 + timedelta(days=1), met, "resolved")
    h.status(D0 + timedelta(days=2), missed, "resolved")
    h.scan(D0 + timedelta(hours=2))
    h.scan(D0 - timedelta(days=3))  # previous week: not listed
    h.kev_loaded(D0, "v1")
    doc = _build(ctx, W02, W02.end + timedelta(hours=2))
    fig = doc.data["figures"]
    assert fig["headline"] == {
        "overdue_without_exception": 2,
        "overdue_with_exception": 1,
        "tickets": 6,
        "active_exceptions": 1,
        "kev_tickets": 1,
        "scans_received": 1,
        "cadence_gaps": 0,
        "closed_within_sla_pct": 50.0,
    }
    counts = fig["counts"]["by_severity"]
    assert counts["critical"]["overdue"] == 1
    assert counts["high"] == {**counts["high"], "excepted": 1, "met": 1}
    assert counts["medium"]["missed"] == 1
    assert counts["medium"]["overdue"] == 1 and counts["medium"]["due_soon"] == 1
    assert [(o["ticket_id"], o["exception"] == "none") for o in fig["overdue"]] == [
        (overdue, True),
        (excepted, False),
        (lapsed, True),
    ]
    assert fig["active_exceptions"][0]["approver"] == "Sec Lead"
    assert fig["active_exceptions"][0]["expires_on"] == "2026-02-04"
    assert fig["remediation"]["by_severity"]["high"]["closed_within_sla_pct"] == 100.0
    assert fig["remediation"]["by_severity"]["high"]["median_days_to_remediate"] == 21.0
    assert fig["kev_tickets"][0]["cve_ids"] == ["CVE-2024-0001"]
    meta = doc.data["metadata"]
    assert meta["control"] == "CC7.2" and meta["kev_catalog_version"] == "v1"
    assert meta["period"] == {
        "start": "2026-01-05",
        "end": "2026-01-11",
        "cutoff": "2026-01-12T00:00:00.000000Z",
        "rule": "ticket state as of every event recorded before the cutoff",
    }
    assert meta["policy"]["remediation_days"]["critical"] == 30
    assert meta["event_log"]["chain_verified"] is True
    rows = list(csv.DictReader(io.StringIO(doc.tickets_csv)))
    assert [int(r["id"]) for r in rows] == [overdue, excepted, met, missed, lapsed, fine]
    assert rows[1]["exception"].startswith("approved by Sec Lead until 2026-02-04")
    assert rows[0]["sla_outcome"] == "overdue" and rows[0]["kev"] == "true"


def test_reader_matches_the_reference_chain_rules(ctx: AppContext, is_postgres: bool) -> None:
    h = History(ctx)
    for i in range(30):
        tid = h.open_ticket(D0 + timedelta(hours=i))
        h.status(D0 + timedelta(hours=i, minutes=30), tid, "in_progress")
    with ctx.sessions() as session:
        assert list(stream_rows(session, upto_seq=10**9)) == list(iter_rows(session))
        read = read_until(session, cutoff=W02.end, period_start=W02.start)
        assert read.chain == verify(session)
    with transaction(ctx.sessions) as session:
        session.execute(text("UPDATE events SET actor = 'mallory' WHERE seq = 17"))
    with ctx.sessions() as session:
        read = read_until(session, cutoff=W02.end, period_start=W02.start)
        reference = verify(session)
        assert read.chain == reference and reference.broken is not None
        assert reference.broken.seq == 17
        assert read.state.replayed == 60  # the replay still reads the whole prefix


def test_write_snapshot_once_per_week(ctx: AppContext) -> None:
    h = History(ctx)
    h.open_ticket(D0 - timedelta(days=30), due=date(2026, 1, 1))
    now = datetime(2026, 1, 13, 2, 0, tzinfo=UTC)
    with pytest.raises(SnapshotError, match="not over"):
        write_snapshot(ctx, week=IsoWeek(2026, 3), now=now)
    first = write_snapshot(ctx, week=W02, now=now)
    assert first.created
    assert first.key == "sla-snapshots/2026/01/13/sla-snapshot-2026-W02.json"
    assert first.csv_uri is not None and first.csv_uri.endswith("sla-snapshot-2026-W02.csv")
    body = orjson.loads(ctx.evidence.get(first.key))
    assert body["metadata"]["generated_at"] == "2026-01-13T02:00:00.000000Z"
    assert body["figures"]["headline"]["overdue_without_exception"] == 1
    again = write_snapshot(ctx, week=W02, now=now + timedelta(days=3))
    assert (again.created, again.uri, again.sha256) == (False, first.uri, first.sha256)
    assert list(ctx.evidence.list("sla-snapshots/")) == [
        "sla-snapshots/2026/01/13/sla-snapshot-2026-W02.csv",
        "sla-snapshots/2026/01/13/sla-snapshot-2026-W02.json",
    ]
    with ctx.sessions() as session:
        row = session.scalar(select(Snapshot))
        assert row is not None
        assert (row.week, row.event_head_seq) == ("2026-W02", 1)
        written = session.scalars(select(Event).where(Event.kind == kinds.SNAPSHOT_WRITTEN)).all()
        assert len(written) == 1 and written[0].details["uri"] == first.uri
        assert written[0].details["head_seq"] == 1
        job = session.scalar(select(Job).where(Job.kind == "notify.snapshot"))
        assert job is not None and job.idempotency_key == "notify.snapshot:2026-W02"
        assert job.payload["uri"] == first.uri
        assert job.payload["headline"]["overdue_without_exception"] == 1


def test_crash_between_upload_and_commit_reuses_the_object(ctx: AppContext) -> None:
    History(ctx).open_ticket(D0)
    now = datetime(2026, 1, 12, 3, tzinfo=UTC)
    first = write_snapshot(ctx, week=W02, now=now)
    with transaction(ctx.sessions) as session:  # lose the database record
        session.execute(text("DELETE FROM snapshots"))
    again = write_snapshot(ctx, week=W02, now=now + timedelta(days=2))
    assert again.created and again.key == first.key  # not a second object on another day
    assert len(list(ctx.evidence.list("sla-snapshots/"))) == 2


def test_clock_schedules_the_previous_week_once(ctx: AppContext) -> None:
    assert due_week(datetime(2026, 1, 12, 2, 0, tzinfo=UTC)) == W02
    assert due_week(datetime(2026, 1, 12, 1, 59, tzinfo=UTC)) == IsoWeek(2026, 1)
    History(ctx).open_ticket(D0)
    now = datetime(2026, 1, 12, 2, 5, tzinfo=UTC)
    with transaction(ctx.sessions) as session:
        assert schedule_weekly_snapshot(ctx, session, now) == 1
    with transaction(ctx.sessions) as session:
        assert schedule_weekly_snapshot(ctx, session, now + timedelta(hours=1)) == 0
        job = session.scalar(select(Job).where(Job.kind == "snapshot.weekly"))
        assert job is not None and job.idempotency_key == "snapshot:2026-W02"
    notified: list[dict[str, Any]] = []
    handlers = {
        "snapshot.weekly": snapshot_job,
        "notify.snapshot": lambda _ctx, job, _now: notified.append(job.payload),
    }
    assert run_due_jobs(ctx, handlers, now=now) == 2
    assert [n["week"] for n in notified] == ["2026-W02"]
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Snapshot)) == 1
        job = session.scalar(select(Job).where(Job.kind == "snapshot.weekly"))
        assert job is not None and job.state == "done"


def test_the_schedule_follows_the_snapshot_cron_setting(ctx: AppContext) -> None:
    """SLABOT_SNAPSHOT_CRON moves the run; each run still covers the previous ISO week."""
    import dataclasses

    friday_evening = dataclasses.replace(
        ctx, settings=ctx.settings.model_copy(update={"snapshot_cron": "30 18 * * 5"})
    )
    monday_run = datetime(2026, 1, 12, 2, 5, tzinfo=UTC)  # the default would fire here
    with transaction(ctx.sessions) as session:
        # the latest Friday-18:30 run before this Monday was on 9 January: week 1's snapshot
        assert schedule_weekly_snapshot(friday_evening, session, monday_run) == 1
        job = session.scalar(select(Job).where(Job.kind == "snapshot.weekly"))
        assert job is not None and job.payload == {"week": "2026-W01"}
    with transaction(ctx.sessions) as session:
        later = datetime(2026, 1, 16, 18, 30, tzinfo=UTC)  # the next Friday's run: week 2
        assert schedule_weekly_snapshot(friday_evening, session, later) == 1
        assert schedule_weekly_snapshot(friday_evening, session, later) == 0
