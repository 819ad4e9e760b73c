"""The scan-cadence check: record each missed window once and queue a Slack notice.

Runs directly inside the clock's scheduler (a DB-only operation, no external call): every clock
pass reads the scan times per target from the ``scans`` table, computes the windows that closed
with no scan (:func:`bot.cadence.rules.find_gaps`), and for each window not yet recorded appends
a ``scan.missed`` event (``at`` = the window's end, ``external_id`` =
``scan.missed:<target>:<window_end>``, unique in the log, so it is recorded once) and enqueues a
``notify.scan_missed`` job (key ``notify.scan_missed:<target>:<window_end>``) for the notifier.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.cadence.rules import Gap, find_gaps
from bot.context import AppContext
from bot.events import kinds
from bot.events.models import Event
from bot.events.service import NewEvent, append_events
from bot.jobs.service import enqueue
from bot.policy import Policy
from bot.scans.models import Scan

NOTIFY_SCAN_MISSED = "notify.scan_missed"


def scan_times_by_target(session: Session) -> dict[str, list[datetime]]:
    times: dict[str, list[datetime]] = defaultdict(list)
    for target, received_at in session.execute(
        select(Scan.target, Scan.received_at).where(Scan.target.is_not(None))
    ):
        times[str(target)].append(received_at)
    return dict(times)


def pending_gaps(session: Session, policy: Policy, *, now: datetime) -> list[Gap]:
    """Missed windows as of ``now`` that have no ``scan.missed`` event yet."""
    cadence = policy.scan_cadence
    gaps = find_gaps(
        scan_times_by_target(session),
        cadence.targets,
        cron=cadence.cron,
        grace=timedelta(hours=cadence.grace_hours),
        now=now,
    )
    if not gaps:
        return []
    recorded = set(
        session.scalars(select(Event.external_id).where(Event.kind == kinds.SCAN_MISSED))
    )
    return [g for g in gaps if g.external_id not in recorded]


def record_gaps(session: Session, gaps: list[Gap], *, now: datetime) -> int:
    if not gaps:
        return 0
    append_events(
        session,
        [
            NewEvent(
                kind=kinds.SCAN_MISSED,
                at=g.window_end,
                source="system",
                external_id=g.external_id,
                details=g.as_json(),
            )
            for g in gaps
        ],
        now=now,
    )
    queued = 0
    for g in gaps:
        queued += enqueue(
            session,
            kind=NOTIFY_SCAN_MISSED,
            key=f"{NOTIFY_SCAN_MISSED}:{g.external_id.removeprefix('scan.missed:')}",
            now=now,
            payload=g.as_json(),
        )
    return queued


def check_cadence(session: Session, policy: Policy, *, now: datetime) -> list[Gap]:
    gaps = pending_gaps(session, policy, now=now)
    record_gaps(session, gaps, now=now)
    return gaps


def schedule_cadence_check(ctx: AppContext, session: Session, now: datetime) -> int:
    """Clock scheduler: records new gaps; returns the number of notify jobs enqueued."""
    gaps = pending_gaps(session, ctx.policy, now=now)
    return record_gaps(session, gaps, now=now)
