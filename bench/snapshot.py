"""Benchmark: weekly snapshot and ``evidence week`` over 100,000 tickets and 1,000,000 events.

    python bench/snapshot.py [--dir DIR] [--tickets N] [--events N]

Builds a SQLite database (schema by alembic) with a correctly hash-chained log spread over 52
weeks (tickets opened, findings, due changes, escalations, status changes, risk acceptances
approved and expired, reminders, weekly scans of 20 targets with one missed week), then runs
each measured step in a fresh child process and prints its wall time and peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of that child; the chain-verifying helper it
starts, ``bot/snapshots/verifier.py``, streams in constant memory). Targets: ≤ 15 s, ≤ 1 GB
each.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bot.database.core import make_engine  # noqa: E402
from bot.database.migrations import upgrade  # noqa: E402
from bot.events.chain import GENESIS_HASH, normalize_details, row_digest  # noqa: E402
from bot.events.models import Event  # noqa: E402
from bot.scans.models import Scan  # noqa: E402
from bot.snapshots.weeks import IsoWeek  # noqa: E402
from bot.tickets.models import Ticket  # noqa: E402

START = datetime(2025, 1, 6, tzinfo=UTC)  # Monday of 2025-W02
WEEKS = 52
TARGETS = [f"https://app{i}.example.com" for i in range(20)]
SEVERITIES = ("critical", "high", "medium")
DAYS = {"critical": 30, "high": 60, "medium": 90}
BATCH = 10_000


class Log:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.seq = 0
        self.prev = GENESIS_HASH
        self.rows: list[dict[str, Any]] = []

    def add(self, kind: str, at: datetime, **fields: Any) -> None:
        self.seq += 1
        row: dict[str, Any] = {
            "seq": self.seq,
            "at": at,
            "recorded_at": at,
            "kind": kind,
            "ticket_id": fields.get("ticket_id"),
            "finding_id": fields.get("finding_id"),
            "from_state": fields.get("from_state"),
            "to_state": fields.get("to_state"),
            "actor": fields.get("actor"),
            "source": fields.get("source", "system"),
            "external_id": fields.get("external_id"),
            "details": normalize_details(fields.get("details")),
            "prev_hash": self.prev,
        }
        row["hash"] = self.prev = row_digest(self.prev, row)
        self.rows.append(row)
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            self.conn.execute(insert(Event), self.rows)
            self.rows = []


def generate(db: Path, evidence: Path, n_tickets: int, n_events: int) -> None:
    rng = random.Random(7)
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    span = timedelta(weeks=WEEKS)
    # timeline: every event as (at, kind, payload); sorted once, then chained in time order
    plan: list[tuple[datetime, int, str, dict[str, Any]]] = []
    order = 0

    def at_random(lo: datetime, hi: datetime) -> datetime:
        return lo + timedelta(seconds=rng.uniform(0, max((hi - lo).total_seconds(), 1)))

    tickets: list[dict[str, Any]] = []
    for tid in range(1, n_tickets + 1):
        sev = rng.choice(SEVERITIES)
        opened = at_random(START, START + span)
        due = opened.date() + timedelta(days=DAYS[sev])
        kev = rng.random() < 0.05
        tickets.append(
            {
                "id": tid,
                "grouping_key": f"g{tid}",
                "title": f"template-{tid % 500} on host{tid}.example.com",
                "template_id": f"template-{tid % 500}",
                "asset": f"https://host{tid}.example.com",
                "severity": sev,
                "reported_severity": sev,
                "kev": kev,
                "cve_ids": [f"CVE-2024-{tid:05d}"] if kev else [],
                "status": "open",
                "due_date": due,
                "opened_at": opened,
                "clock_started_at": opened,
                "status_changed_at": opened,
                "tracker": "local",
            }
        )
        t = tickets[-1]
        plan.append((opened, order, "finding.new", {"ticket_id": tid, "due": due, "t": t}))
        plan.append((opened, order + 1, "ticket.opened", {"ticket_id": tid, "due": due, "t": t}))
        order += 2
        roll = rng.random()
        if roll < 0.15:
            at = opened + timedelta(days=rng.uniform(1, 20))
            new_due = due - timedelta(days=10)
            plan.append(
                (at, order, "ticket.due_changed", {"ticket_id": tid, "old": due, "new": new_due})
            )
            order += 1
        if roll < 0.05:
            plan.append(
                (
                    opened + timedelta(hours=3),
                    order,
                    "ticket.escalated",
                    {"ticket_id": tid, "sev": sev},
                )
            )
            order += 1
        fate = rng.random()
        if fate < 0.6:
            at = opened + timedelta(days=rng.uniform(1, DAYS[sev] * 1.3))
            plan.append(
                (
                    at - timedelta(days=0.5),
                    order,
                    "status",
                    {"ticket_id": tid, "from": "open", "to": "in_progress"},
                )
            )
            plan.append(
                (
                    at,
                    order + 1,
                    "status",
                    {"ticket_id": tid, "from": "in_progress", "to": "resolved"},
                )
            )
            order += 2
        elif fate < 0.7:
            at = opened + timedelta(days=rng.uniform(1, 25))
            expires = at.date() + timedelta(days=30)
            plan.append((at, order, "approved", {"ticket_id": tid, "expires": expires}))
            plan.append(
                (
                    datetime.combine(expires + timedelta(days=1), datetime.min.time(), UTC)
                    + timedelta(hours=6),
                    order + 1,
                    "expired",
                    {"ticket_id": tid, "expires": expires},
                )
            )
            order += 2
    for week in range(WEEKS):
        for i, target in enumerate(TARGETS):
            if week == 30 and i == 3:
                continue  # one missed week
            at = START + timedelta(weeks=week, hours=1, minutes=i)
            plan.append(
                (at, order, "scan", {"target": target, "scan_id": len([1]) and week * 100 + i + 1})
            )
            order += 1
    plan.append((START + timedelta(days=1), order, "kev", {"version": "2025.01.07"}))
    order += 1
    filler = n_events - len(plan)
    for k in range(max(filler, 0)):
        tid = rng.randint(1, n_tickets)
        plan.append((at_random(START, START + span), order, "reminder", {"ticket_id": tid, "k": k}))
        order += 1
    plan.sort(key=lambda p: (p[0], p[1]))

    evidence.mkdir(parents=True, exist_ok=True)
    scans: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for i in range(0, len(tickets), BATCH):
            conn.execute(insert(Ticket), tickets[i : i + BATCH])
        log = Log(conn)
        for at, _, kind, p in plan:
            if kind == "finding.new":
                t = p["t"]
                log.add(
                    "finding.new",
                    at,
                    ticket_id=p["ticket_id"],
                    finding_id=p["ticket_id"],
                    to_state="open",
                    source="nuclei",
                    details={
                        "fingerprint": f"fp{p['ticket_id']}",
                        "template_id": t["template_id"],
                        "asset": t["asset"],
                        "severity": t["severity"],
                        "reported_severity": t["severity"],
                        "cve_ids": t["cve_ids"],
                        "due_date": p["due"],
                    },
                )
            elif kind == "ticket.opened":
                t = p["t"]
                log.add(
                    "ticket.opened",
                    at,
                    ticket_id=p["ticket_id"],
                    to_state="open",
                    source="nuclei",
                    details={
                        "title": t["title"],
                        "severity": t["severity"],
                        "reported_severity": t["severity"],
                        "kev": t["kev"],
                        "cve_ids": t["cve_ids"],
                        "asset": t["asset"],
                        "template_id": t["template_id"],
                        "due_date": p["due"],
                        "policy": "bench",
                        "tracker": "local",
                    },
                )
            elif kind == "ticket.due_changed":
                log.add(
                    kind,
                    at,
                    ticket_id=p["ticket_id"],
                    details={"old_due_date": p["old"], "new_due_date": p["new"], "reason": "bench"},
                )
            elif kind == "ticket.escalated":
                log.add(
                    kind,
                    at,
                    ticket_id=p["ticket_id"],
                    from_state=p["sev"],
                    to_state="critical",
                    details={"reason": "kev", "kev": True},
                )
            elif kind == "status":
                log.add(
                    "ticket.status_changed",
                    at,
                    ticket_id=p["ticket_id"],
                    from_state=p["from"],
                    to_state=p["to"],
                    source="jira",
                    details={"source_at": at, "applied": True},
                )
            elif kind == "approved":
                log.add(
                    "risk_acceptance.approved",
                    at,
                    ticket_id=p["ticket_id"],
                    from_state="open",
                    to_state="risk_accepted",
                    source="slack",
                    actor="U1",
                    details={
                        "request_id": f"ra-{p['ticket_id']}",
                        "approver_id": "U1",
                        "approver_name": "Sec Lead",
                        "expires_on": p["expires"],
                    },
                )
            elif kind == "expired":
                log.add(
                    "risk_acceptance.expired",
                    at,
                    ticket_id=p["ticket_id"],
                    from_state="risk_accepted",
                    to_state="open",
                    details={"request_id": f"ra-{p['ticket_id']}", "expires_on": p["expires"]},
                )
            elif kind == "scan":
                key = f"vulnerability-scans/{at:%Y/%m/%d}/nuclei-{p['scan_id']}.json"
                path = evidence / key
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text('{"findings": []}')
                scans.append(
                    {
                        "id": p["scan_id"],
                        "received_at": at,
                        "source": "cli",
                        "target": p["target"],
                        "container": "jsonl",
                        "sha256": "0" * 64,
                        "size_bytes": 16,
                        "artifact_uri": f"file://{path}",
                        "artifact_key": key,
                        "findings": 0,
                    }
                )
                log.add(
                    "scan.ingested",
                    at,
                    source="nuclei",
                    details={
                        "findings": 0,
                        "target": p["target"],
                        "sha256": "0" * 64,
                        "artifact": f"file://{path}",
                        "scan_id": p["scan_id"],
                    },
                )
            elif kind == "kev":
                log.add(
                    "kev.catalog_loaded",
                    at,
                    details={
                        "catalog_version": p["version"],
                        "added": 1,
                        "removed": 0,
                        "entries": 1200,
                    },
                )
            else:
                log.add(
                    "reminder.sent",
                    at,
                    ticket_id=p["ticket_id"],
                    source="slack",
                    details={"slot": at, "kind": "reminder", "channel": "C1"},
                )
        log.flush()
        conn.execute(insert(Scan), scans)
    engine.dispose()


def measure(phase: str, db: Path, evidence: Path, out: Path, week: str) -> None:
    from bot.context import AppContext
    from bot.database.core import make_session_factory
    from bot.policy import load_policy
    from bot.settings import Settings
    from bot.snapshots.document import build_snapshot
    from bot.snapshots.evidence_week import regenerate_week
    from integrations.evidence import open_evidence_store

    settings = Settings(
        database_url=f"sqlite:///{db}", evidence_url=f"file://{evidence}", _env_file=None
    )  # type: ignore[call-arg]
    engine = make_engine(settings.database_url)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        policy=load_policy(None),
        evidence=open_evidence_store(settings.evidence_url, s3_endpoint_url=None, retention_days=1),
    )
    target = IsoWeek.parse(week)
    now = target.end + timedelta(hours=2)
    started = time.perf_counter()
    if phase == "snapshot":
        with ctx.sessions() as session:
            doc = build_snapshot(session, week=target, policy=ctx.policy, tz=ctx.tz, now=now)
        info: dict[str, Any] = {
            "headline": doc.headline,
            "events_replayed": doc.data["metadata"]["event_log"]["events_replayed"],
            "chain_verified": doc.data["metadata"]["event_log"]["chain_verified"],
        }
    else:
        result = regenerate_week(ctx, week=target, out_dir=out, now=now)
        info = {
            "events_in_week": result.events,
            "raw_scans": result.raw_scans,
            "files": len(result.files),
        }
    elapsed = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"phase": phase, "seconds": round(elapsed, 2), "peak_rss_mb": round(rss_mb, 1), **info}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, default=Path("/tmp/slabot-bench-snapshot"))
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--phase", choices=["snapshot", "evidence-week"])
    parser.add_argument("--week", default="")
    args = parser.parse_args()
    db, evidence = args.dir / "bench.db", args.dir / "evidence"
    week = args.week or IsoWeek.of((START + timedelta(weeks=WEEKS - 1)).date()).label
    if args.phase:
        measure(args.phase, db, evidence, args.dir / f"evidence-{week}", week)
        return
    if not db.exists():
        args.dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        generate(db, evidence, args.tickets, args.events)
        took = time.perf_counter() - t0
        print(f"generated {args.tickets} tickets / {args.events} events in {took:.1f} s ({db})")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import machine_speed

    print(machine_speed())
    for phase in ("snapshot", "evidence-week"):
        subprocess.run(
            [sys.executable, __file__, "--dir", str(args.dir), "--phase", phase, "--week", week],
            check=True,
        )


if __name__ == "__main__":
    main()
