"""Writing the weekly snapshot to the evidence store, once per week, and scheduling it.

``write_snapshot`` builds the document (:func:`bot.snapshots.document.build_snapshot`), stores
``sla-snapshots/YYYY/MM/DD/sla-snapshot-YYYY-Www.json`` and ``.csv`` (YYYY/MM/DD = the UTC
write date), records the ``snapshots`` row (unique per week), appends ``snapshot.written`` and
queues ``notify.snapshot``. Writing a week again answers with the existing object's URI.

The schedule is ``SLABOT_SNAPSHOT_CRON`` (UTC; default Monday 02:00): each run covers the
ISO week before it, so a run can never snapshot a week that is not over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.core import read_only, transaction
from bot.events import kinds
from bot.events.service import NewEvent, append_events
from bot.jobs.errors import PermanentJobError, RetryableJobError
from bot.jobs.service import ClaimedJob, enqueue
from bot.snapshots.document import SnapshotDocument, build_snapshot, file_name, json_key
from bot.snapshots.models import Snapshot
from bot.snapshots.weeks import IsoWeek, WeekFormatError
from integrations.evidence import EvidenceStore, EvidenceStoreError, StoredObject

SNAPSHOT_CRON = "0 2 * * 1"  # the setting's default, for callers without a context
SNAPSHOT_JOB = "snapshot.weekly"
NOTIFY_SNAPSHOT = "notify.snapshot"


class SnapshotError(Exception):
    """The snapshot cannot be written (e.g. the week is not over yet)."""


@dataclass(frozen=True, slots=True)
class SnapshotResult:
    week: str
    uri: str
    key: str
    sha256: str
    version_id: str | None
    csv_uri: str | None
    created: bool
    head_seq: int
    head_hash: str
    headline: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "uri": self.uri,
            "key": self.key,
            "sha256": self.sha256,
            "version_id": self.version_id,
            "csv_uri": self.csv_uri,
            "created": self.created,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "headline": self.headline,
        }


def _result(row: Snapshot, *, created: bool) -> SnapshotResult:
    summary = row.summary or {}
    return SnapshotResult(
        week=row.week,
        uri=row.uri,
        key=row.key,
        sha256=row.sha256,
        version_id=row.version_id,
        csv_uri=summary.get("csv", {}).get("uri"),
        created=created,
        head_seq=row.event_head_seq,
        head_hash=row.event_head_hash,
        headline=dict(summary.get("headline", {})),
    )


def stored_snapshot(session: Session, week: IsoWeek) -> Snapshot | None:
    return session.scalar(select(Snapshot).where(Snapshot.week == week.label))


def _existing_key(store: EvidenceStore, week: IsoWeek) -> str | None:
    """A snapshot object for ``week`` already in the store (a crash between the upload and the
    database commit): reuse it rather than write a second object on another day."""
    suffix = "/" + file_name(week, "json")
    found = [k for k in store.list("sla-snapshots/") if k.endswith(suffix)]
    return found[0] if found else None


def _upload(
    store: EvidenceStore, doc: SnapshotDocument, *, now: datetime
) -> tuple[StoredObject, StoredObject]:
    key = _existing_key(store, doc.week) or json_key(doc.week, now)
    stored = store.put(key, doc.json_bytes(), content_type="application/json", now=now)
    csv_stored = store.put(
        key.removesuffix(".json") + ".csv", doc.csv_bytes(), content_type="text/csv", now=now
    )
    return stored, csv_stored


def write_snapshot(ctx: AppContext, *, week: IsoWeek, now: datetime) -> SnapshotResult:
    """Build, store and record ``week``'s snapshot; idempotent per week."""
    if now < week.end:
        raise SnapshotError(
            f"week {week.label} is not over until {week.end.isoformat()}; "
            "a snapshot of an unfinished week would not match the log later"
        )
    with read_only(ctx.sessions) as session:
        existing = stored_snapshot(session, week)
        if existing is not None:
            return _result(existing, created=False)
    with read_only(ctx.sessions) as session:  # holds up no writer while the log is replayed
        doc = build_snapshot(session, week=week, policy=ctx.policy, tz=ctx.tz, now=now)
    stored, csv_stored = _upload(ctx.evidence, doc, now=now)
    with transaction(ctx.sessions) as session:
        existing = stored_snapshot(session, week)
        if existing is not None:  # another writer won meanwhile
            return _result(existing, created=False)
        row = Snapshot(
            week=week.label,
            period_start=week.first_day,
            period_end=week.last_day,
            generated_at=now,
            uri=stored.uri,
            key=stored.key,
            sha256=stored.sha256,
            version_id=stored.version_id,
            event_head_seq=doc.head_seq,
            event_head_hash=doc.head_hash,
            summary={
                "headline": doc.headline,
                "counts": doc.data["figures"]["counts"],
                "csv": {
                    "uri": csv_stored.uri,
                    "key": csv_stored.key,
                    "sha256": csv_stored.sha256,
                    "version_id": csv_stored.version_id,
                },
            },
        )
        session.add(row)
        session.flush()
        append_events(
            session,
            [
                NewEvent(
                    kind=kinds.SNAPSHOT_WRITTEN,
                    at=now,
                    source="system",
                    details={
                        "week": week.label,
                        "uri": stored.uri,
                        "sha256": stored.sha256,
                        "version_id": stored.version_id,
                        "csv_uri": csv_stored.uri,
                        "head_seq": doc.head_seq,
                        "head_hash": doc.head_hash,
                    },
                )
            ],
            now=now,
        )
        enqueue(
            session,
            kind=NOTIFY_SNAPSHOT,
            key=f"{NOTIFY_SNAPSHOT}:{week.label}",
            now=now,
            payload={
                "week": week.label,
                "uri": stored.uri,
                "csv_uri": csv_stored.uri,
                "period_start": week.first_day.isoformat(),
                "period_end": week.last_day.isoformat(),
                "headline": doc.headline,
            },
        )
        return _result(row, created=True)


def last_fire(now: datetime, cron: str = SNAPSHOT_CRON) -> datetime:
    """The latest run of ``cron`` (UTC) at or before ``now``."""
    start = now.astimezone(UTC) + timedelta(microseconds=1)
    fire: datetime = croniter(cron, start).get_prev(datetime)
    return fire.astimezone(UTC)


def due_week(now: datetime, cron: str = SNAPSHOT_CRON) -> IsoWeek:
    """The week the latest snapshot run covers: the ISO week before the run."""
    return IsoWeek.previous_of(last_fire(now, cron))


def schedule_weekly_snapshot(ctx: AppContext, session: Session, now: datetime) -> int:
    """Clock scheduler: once ``now`` is past the run time, queue the previous week's snapshot
    (key ``snapshot:<YYYY-Www>``; a second clock inserts nothing)."""
    week = due_week(now, ctx.settings.snapshot_cron)
    return int(
        enqueue(
            session,
            kind=SNAPSHOT_JOB,
            key=f"snapshot:{week.label}",
            now=now,
            payload={"week": week.label},
            max_attempts=10,
        )
    )


def snapshot_job(ctx: AppContext, job: ClaimedJob, now: datetime) -> None:
    """Job handler for ``snapshot.weekly`` (payload ``{"week": "YYYY-Www"}``)."""
    try:
        week = IsoWeek.parse(str(job.payload.get("week")))
        write_snapshot(ctx, week=week, now=now)
    except (WeekFormatError, SnapshotError) as exc:
        raise PermanentJobError(str(exc)) from exc
    except EvidenceStoreError as exc:
        raise RetryableJobError(f"evidence store: {exc}") from exc
