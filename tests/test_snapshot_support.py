"""Helpers for the snapshot, evidence-week, cadence and anchoring tests: a synthetic history
appended through the real event log (``recorded_at`` = the simulated now)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.context import AppContext
from bot.database.core import transaction
from bot.events import kinds
from bot.events.service import NewEvent, append_events
from bot.scans.models import Scan

D0 = datetime(2026, 1, 5, tzinfo=UTC)  # Monday of 2026-W02


@dataclass
class History:
    ctx: AppContext
    next_ticket: int = 1
    next_request: int = 1
    statuses: dict[int, str] = field(default_factory=dict)

    def emit(self, now: datetime, *events: NewEvent) -> None:
        with transaction(self.ctx.sessions) as session:
            append_events(session, list(events), now=now)

    def open_ticket(
        self, now: datetime, *, severity: str = "high", due: date | None = None, kev: bool = False
    ) -> int:
        tid = self.next_ticket
        self.next_ticket += 1
        due = due or (now.date() + timedelta(days=14))
        self.emit(
            now,
            NewEvent(
                kind=kinds.TICKET_OPENED,
                at=now,
                source="nuclei",
                ticket_id=tid,
                to_state="open",
                details={
                    "title": f"finding {tid}",
                    "severity": severity,
                    "reported_severity": severity,
                    "kev": kev,
                    "cve_ids": ["CVE-2024-0001"] if kev else [],
                    "asset": f"https://h{tid}.example.com",
                    "template_id": f"t{tid}",
                    "due_date": due,
                    "policy": "test",
                    "tracker": "local",
                },
            ),
        )
        self.statuses[tid] = "open"
        return tid

    def status(self, now: datetime, tid: int, to: str, *, applied: bool = True) -> None:
        self.emit(
            now,
            NewEvent(
                kind=kinds.TICKET_STATUS_CHANGED,
                at=now,
                source="jira",
                ticket_id=tid,
                from_state=self.statuses[tid],
                to_state=to,
                details={"source_at": now, "applied": applied},
            ),
        )
        if applied:
            self.statuses[tid] = to

    def approve(self, now: datetime, tid: int, *, days: int = 10) -> None:
        request = f"ra-{self.next_request}"
        self.next_request += 1
        self.emit(
            now,
            NewEvent(
                kind=kinds.ACCEPTANCE_APPROVED,
                at=now,
                source="slack",
                ticket_id=tid,
                actor="U2",
                from_state=self.statuses[tid],
                to_state="risk_accepted",
                details={
                    "request_id": request,
                    "approver_id": "U2",
                    "approver_name": "Sec Lead",
                    "expires_on": now.date() + timedelta(days=days),
                },
            ),
        )
        self.statuses[tid] = "risk_accepted"

    def expire(self, now: datetime, tid: int) -> None:
        self.emit(
            now,
            NewEvent(
                kind=kinds.ACCEPTANCE_EXPIRED,
                at=now,
                source="system",
                ticket_id=tid,
                from_state="risk_accepted",
                to_state="open",
                details={"request_id": "ra", "expires_on": now.date()},
            ),
        )
        self.statuses[tid] = "open"

    def due_change(self, now: datetime, tid: int, new_due: date) -> None:
        self.emit(
            now,
            NewEvent(
                kind=kinds.TICKET_DUE_CHANGED,
                at=now,
                source="system",
                ticket_id=tid,
                details={"old_due_date": None, "new_due_date": new_due, "reason": "kev"},
            ),
        )

    def reopen(self, now: datetime, tid: int, new_due: date) -> None:
        self.emit(
            now,
            NewEvent(
                kind=kinds.TICKET_REOPENED,
                at=now,
                source="system",
                ticket_id=tid,
                from_state=self.statuses[tid],
                to_state="open",
                details={"clock_restarted_at": now, "old_due_date": None, "new_due_date": new_due},
            ),
        )
        self.statuses[tid] = "open"

    def kev_loaded(self, now: datetime, version: str) -> None:
        self.emit(
            now,
            NewEvent(
                kind=kinds.KEV_CATALOG_LOADED,
                at=now,
                source="system",
                details={"catalog_version": version, "added": 1, "removed": 0, "entries": 9},
            ),
        )

    def scan(
        self, now: datetime, target: str = "https://app.example.com", findings: int = 3
    ) -> int:
        body = f'{{"target": "{target}", "at": "{now.isoformat()}"}}'.encode()
        tag = hashlib.sha256(target.encode()).hexdigest()[:12]
        key = f"vulnerability-scans/{now:%Y/%m/%d}/nuclei-{now:%Y%m%dT%H%M%S}-{tag}.json"
        stored = self.ctx.evidence.put(key, body, content_type="application/json", now=now)
        with transaction(self.ctx.sessions) as session:
            scan = Scan(
                received_at=now,
                source="cli",
                target=target,
                container="jsonl",
                sha256=stored.sha256,
                size_bytes=len(body),
                artifact_uri=stored.uri,
                artifact_key=stored.key,
                findings=findings,
            )
            session.add(scan)
            session.flush()
            append_events(
                session,
                [
                    NewEvent(
                        kind=kinds.SCAN_INGESTED,
                        at=now,
                        source="nuclei",
                        details={
                            "scan_id": scan.id,
                            "findings": findings,
                            "target": target,
                            "sha256": stored.sha256,
                            "artifact": stored.uri,
                        },
                    )
                ],
                now=now,
            )
            return scan.id


def without_volatile(doc: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in doc["metadata"].items() if k != "generated_at"}
    return {**doc, "metadata": meta}
