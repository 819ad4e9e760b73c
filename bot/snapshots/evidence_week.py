"""``evidence week``: regenerate, from the event log alone, the evidence for a sampled week.

Written into one directory:

- ``sla-snapshot-YYYY-Www.json`` / ``.csv``: the week's snapshot rebuilt as of the end of the
  week with the same builder as the weekly job;
- ``events-YYYY-Www.json`` / ``.csv``: every event whose ``at`` falls in the week (streamed);
- ``raw-scans/``: the retained raw scan artifacts of the scans received in the week, fetched
  from the evidence store by the key in the ``scans`` table, plus ``index.json``;
- ``comparison.json``: whether the rebuild matches the snapshot stored for that week (every
  count and list; ``generated_at`` excepted) and, if not, where they differ.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.bulk import to_db
from bot.database.core import read_only, table_of
from bot.events.chain import iso_utc
from bot.events.models import Event
from bot.scans.models import Scan
from bot.snapshots.chain_check import any_iso, sqlite_iso
from bot.snapshots.compare import csv_differences, differences
from bot.snapshots.document import SnapshotDocument, build_snapshot, file_name
from bot.snapshots.models import Snapshot
from bot.snapshots.reader import stream_where
from bot.snapshots.service import stored_snapshot
from bot.snapshots.weeks import IsoWeek
from integrations.evidence import EvidenceStore, EvidenceStoreError

EVENT_COLUMNS = (
    "seq",
    "at",
    "recorded_at",
    "kind",
    "ticket",
    "finding",
    "from",
    "to",
    "actor",
    "source",
    "details",
    "hash",
)


@dataclass(frozen=True, slots=True)
class WeekEvidence:
    week: str
    out_dir: Path
    files: list[str]
    events: int
    raw_scans: int
    raw_scans_missing: int
    comparison: dict[str, Any]
    headline: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "out_dir": str(self.out_dir),
            "files": self.files,
            "events": self.events,
            "raw_scans": self.raw_scans,
            "raw_scans_missing": self.raw_scans_missing,
            "matches_stored": self.comparison["matches"],
            "headline": self.headline,
        }


def week_events(session: Session, week: IsoWeek) -> Iterator[dict[str, Any]]:
    """The events that happened in ``week`` (by ``at``), oldest first, as written out: read
    as plain driver rows, since building ORM objects cost ten times the query."""
    iso = sqlite_iso if session.get_bind().dialect.name == "sqlite" else any_iso
    bounds = [to_db(session, table_of(Event), "at", t) for t in (week.start, week.end)]
    for raw in stream_where(session, "at >= ? AND at < ?", bounds):
        seq, at, recorded_at, kind, tid, fid, from_, to, actor, source, _, det, _, row_hash = raw
        yield {
            "seq": seq,
            "at": iso(at),
            "recorded_at": iso(recorded_at),
            "kind": kind,
            "ticket": tid,
            "finding": fid,
            "from": from_,
            "to": to,
            "actor": actor,
            "source": source,
            "details": orjson.loads(det) if isinstance(det, str | bytes) else det,
            "hash": row_hash,
        }


def write_events(session: Session, week: IsoWeek, out_dir: Path) -> int:
    """Stream the week's events into ``events-YYYY-Www.json`` and ``.csv``; returns the count."""
    count = 0
    json_path = out_dir / f"events-{week.label}.json"
    csv_path = out_dir / f"events-{week.label}.csv"
    with json_path.open("wb") as js, csv_path.open("w", newline="", encoding="utf-8") as cs:
        writer = csv.writer(cs, lineterminator="\n")
        writer.writerow(EVENT_COLUMNS)
        js.write(b"[")
        for item in week_events(session, week):
            js.write(b"\n  " if count == 0 else b",\n  ")
            js.write(orjson.dumps(item))
            details = orjson.dumps(item["details"], option=orjson.OPT_SORT_KEYS).decode()
            writer.writerow(
                ["" if v is None else v for v in (item[c] for c in EVENT_COLUMNS[:10])]
                + [details, item["hash"]]
            )
            count += 1
        js.write(b"\n]\n" if count else b"]\n")
    return count


def _fetch_raw_scans(
    store: EvidenceStore, scans: list[Scan], out_dir: Path
) -> tuple[list[dict[str, Any]], int]:
    raw_dir = out_dir / "raw-scans"
    raw_dir.mkdir(exist_ok=True)
    index: list[dict[str, Any]] = []
    missing = 0
    for scan in scans:
        entry: dict[str, Any] = {
            "scan_id": scan.id,
            "received_at": iso_utc(scan.received_at),
            "target": scan.target,
            "key": scan.artifact_key,
            "uri": scan.artifact_uri,
            "body_sha256": scan.sha256,
        }
        if not scan.artifact_key:
            entry["error"] = "no artifact was retained for this scan"
            missing += 1
        else:
            try:
                body = store.get(scan.artifact_key)
            except EvidenceStoreError as exc:
                entry["error"] = str(exc)
                missing += 1
            else:
                name = f"{scan.id}-{scan.artifact_key.rsplit('/', 1)[-1]}"
                (raw_dir / name).write_bytes(body)
                entry["file"] = f"raw-scans/{name}"
        index.append(entry)
    return index, missing


def compare_with_stored(
    store: EvidenceStore, stored: Snapshot | None, doc: SnapshotDocument
) -> dict[str, Any]:
    if stored is None:
        return {
            "week": doc.week.label,
            "stored": None,
            "matches": None,
            "note": "no snapshot was stored for this week",
            "differences": [],
        }
    info: dict[str, Any] = {
        "uri": stored.uri,
        "key": stored.key,
        "version_id": stored.version_id,
        "sha256": stored.sha256,
        "generated_at": iso_utc(stored.generated_at),
    }
    result: dict[str, Any] = {"week": doc.week.label, "stored": info}
    try:
        stored_doc = orjson.loads(store.get(stored.key, version_id=stored.version_id))
    except (EvidenceStoreError, orjson.JSONDecodeError) as exc:
        # the evidence object is unreachable: compare what the database kept of it
        summary = stored.summary or {}
        rebuilt = {"headline": doc.headline, "counts": doc.data["figures"]["counts"]}
        kept = {"headline": summary.get("headline"), "counts": summary.get("counts")}
        diffs = differences(kept, rebuilt)
        return result | {
            "compared": "database summary (headline and counts only)",
            "object_error": str(exc),
            "matches": not diffs,
            "differences": diffs,
        }
    diffs = differences(stored_doc, doc.data)
    csv_info = (stored.summary or {}).get("csv") or {}
    csv_diffs: list[dict[str, Any]] = []
    if csv_info.get("key"):
        try:
            stored_csv = store.get(csv_info["key"], version_id=csv_info.get("version_id"))
            csv_diffs = csv_differences(stored_csv.decode("utf-8"), doc.tickets_csv)
        except EvidenceStoreError as exc:
            csv_diffs = [{"line": None, "error": str(exc)}]
    anchor_ok = (stored.event_head_seq, stored.event_head_hash) == (doc.head_seq, doc.head_hash)
    return result | {
        "compared": "stored JSON object and CSV (every count and list; generated_at excepted)",
        "matches": not diffs and not csv_diffs and anchor_ok,
        "anchor_matches": anchor_ok,
        "differences": diffs,
        "csv_differences": csv_diffs,
    }


def _write(path: Path, body: bytes) -> None:
    path.write_bytes(body)


def regenerate_week(
    ctx: AppContext, *, week: IsoWeek, out_dir: Path, now: datetime
) -> WeekEvidence:
    out_dir.mkdir(parents=True, exist_ok=True)
    with read_only(ctx.sessions) as session:
        doc = build_snapshot(session, week=week, policy=ctx.policy, tz=ctx.tz, now=now)
        n_events = write_events(session, week, out_dir)
        stored = stored_snapshot(session, week)
        ids = [s["scan_id"] for s in doc.data["figures"]["scans"] if s["scan_id"] is not None]
        scans: list[Scan] = []
        for i in range(0, len(ids), 500):
            scans.extend(session.scalars(select(Scan).where(Scan.id.in_(ids[i : i + 500]))))
        scans.sort(key=lambda s: s.id)
    _write(out_dir / file_name(week, "json"), doc.json_bytes())
    _write(out_dir / file_name(week, "csv"), doc.csv_bytes())
    index, missing = _fetch_raw_scans(ctx.evidence, scans, out_dir)
    _write(out_dir / "raw-scans" / "index.json", orjson.dumps(index, option=orjson.OPT_INDENT_2))
    comparison = compare_with_stored(ctx.evidence, stored, doc)
    _write(out_dir / "comparison.json", orjson.dumps(comparison, option=orjson.OPT_INDENT_2))
    files = sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob("*") if p.is_file())
    return WeekEvidence(
        week=week.label,
        out_dir=out_dir,
        files=files,
        events=n_events,
        raw_scans=len(scans) - missing,
        raw_scans_missing=missing,
        comparison=comparison,
        headline=doc.headline,
    )
