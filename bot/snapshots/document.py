"""The snapshot document: JSON (metadata envelope + figures) and the tickets CSV.

:func:`build_snapshot` is pure over the database rows: the same week, policy, time zone and
log give the same document (``generated_at`` aside), whenever it is built.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import orjson
from sqlalchemy.orm import Session

from bot.cadence.rules import find_gaps, never_scanned
from bot.events.chain import iso_utc
from bot.policy import Policy
from bot.snapshots.figures import compute_figures, exception_text, merge_gaps, outcome_of
from bot.snapshots.reader import read_until
from bot.snapshots.replay import LogState
from bot.snapshots.weeks import IsoWeek

SCHEMA = "slabot.sla-snapshot/1"
CONTROL = "CC7.2"
CSV_COLUMNS = ("id", "title", "severity", "kev", "status", "due_date", "sla_outcome", "exception")
# Keys that differ between two builds of the same week by design (everything else must agree).
VOLATILE_KEYS = frozenset({"generated_at"})


def json_key(week: IsoWeek, written: datetime) -> str:
    day = written.astimezone(UTC)
    return f"sla-snapshots/{day:%Y/%m/%d}/sla-snapshot-{week.label}.json"


def file_name(week: IsoWeek, ext: str) -> str:
    return f"sla-snapshot-{week.label}.{ext}"


@dataclass(frozen=True, slots=True)
class SnapshotDocument:
    week: IsoWeek
    data: dict[str, Any]
    tickets_csv: str

    @property
    def head_seq(self) -> int:
        return int(self.data["metadata"]["event_log"]["head_seq"])

    @property
    def head_hash(self) -> str:
        return str(self.data["metadata"]["event_log"]["head_hash"])

    @property
    def headline(self) -> dict[str, Any]:
        return dict(self.data["figures"]["headline"])

    def json_bytes(self) -> bytes:
        return orjson.dumps(self.data, option=orjson.OPT_INDENT_2) + b"\n"

    def csv_bytes(self) -> bytes:
        return self.tickets_csv.encode("utf-8")


def _tz_name(tz: tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz)


def tickets_csv(state: LogState, *, today: Any, tz: tzinfo) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for tid in sorted(state.tickets):
        t = state.tickets[tid]
        writer.writerow(
            (
                t.id,
                t.title,
                t.severity,
                "true" if t.kev else "false",
                t.status,
                t.due_date or "",
                outcome_of(t, today=today, tz=tz),
                exception_text(t, today),
            )
        )
    return out.getvalue()


def build_snapshot(
    session: Session, *, week: IsoWeek, policy: Policy, tz: tzinfo, now: datetime
) -> SnapshotDocument:
    """The snapshot of ``week`` as of its end (events recorded before the cutoff)."""
    cutoff = week.end
    read = read_until(session, cutoff=cutoff, period_start=week.start)
    state, chain = read.state, read.chain
    today = week.last_day
    cadence = policy.scan_cadence
    computed = [
        g
        for g in find_gaps(
            state.scan_times,
            cadence.targets,
            cron=cadence.cron,
            grace=timedelta(hours=cadence.grace_hours),
            now=cutoff,
        )
        if week.start <= g.window_end < cutoff
    ]
    recorded = [
        g
        for g in state.gaps
        if week.start <= datetime.fromisoformat(g.window_end.replace("Z", "+00:00")) < cutoff
    ]
    figures = compute_figures(
        state,
        period_start=week.start,
        period_end=cutoff,
        today=today,
        tz=tz,
        gaps=merge_gaps(recorded, computed),
    )
    broken = chain.broken
    data: dict[str, Any] = {
        "schema": SCHEMA,
        "metadata": {
            "generated_at": iso_utc(now),
            "control": CONTROL,
            "week": week.label,
            "period": {
                "start": week.first_day.isoformat(),
                "end": week.last_day.isoformat(),
                "cutoff": iso_utc(cutoff),
                "rule": "ticket state as of every event recorded before the cutoff",
            },
            "timezone": _tz_name(tz),
            "policy": {
                "name": policy.name,
                "preset": policy.preset,
                "remediation_days": dict(policy.days_table()),
                "scan_cadence": {
                    "cron": cadence.cron,
                    "grace_hours": cadence.grace_hours,
                    "targets": list(cadence.targets),
                    "never_scanned": never_scanned(cadence.targets, state.scan_times),
                },
            },
            "kev_catalog_version": state.kev_catalog_version,
            "event_log": {
                "head_seq": state.head_seq,
                "head_hash": state.head_hash,
                "events_replayed": state.replayed,
                "chain_verified": chain.ok,
                "chain_checked": chain.checked,
                "chain_break": None
                if broken is None
                else {"seq": broken.seq, "problem": broken.problem, "reason": broken.reason},
            },
        },
        "figures": figures,
    }
    return SnapshotDocument(week, data, tickets_csv(state, today=today, tz=tz))
