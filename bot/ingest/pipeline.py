"""The ingest pipeline: Nuclei results → findings, occurrences, tickets and events.

Results are processed in batches inside the caller's single transaction (the whole body is
atomic). Per batch: one SELECT for the findings already known, one for the tickets of new
findings, then batched INSERTs/UPDATEs and one batch of events. Nothing is kept per finding
across batches, so memory does not grow with the size of the scan; a finding seen again in a
later batch of the same body is found by the SELECT, since the earlier batch was flushed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.bulk import insert_many, update_many
from bot.database.core import table_of
from bot.events.service import NewEvent, append_events
from bot.findings.events import escalation_event
from bot.findings.models import Finding, FindingCve, Occurrence
from bot.findings.rules import KevFacts, initial_due
from bot.ingest.evidence import finding_details
from bot.ingest.reopen import reopen_findings, reopen_tickets
from bot.ingest.severity import apply_severity_changes
from bot.policy import effective_severity, local_date, opens_ticket, severity_rank
from bot.tickets.models import Ticket
from bot.tickets.service import (
    RESOLVED_STATES,
    TicketDraft,
    merge_draft,
    open_tickets,
    recompute_tickets,
)
from integrations.nuclei import NucleiResult

BATCH_SIZE = 2000
_MISSING = object()
KNOWN_COLUMNS = (
    Finding.id,
    Finding.fingerprint,
    Finding.grouping_key,
    Finding.template_id,
    Finding.name,
    Finding.asset,
    Finding.ticket_id,
    Finding.status,
    Finding.severity,
    Finding.reported_severity,
    Finding.due_date,
    Finding.first_seen,
    Finding.clock_started_at,
    Finding.escalated_at,
    Finding.kev,
    Finding.kev_date_added,
    Finding.kev_due_date,
    Finding.kev_catalog_version,
    Finding.cve_ids,
)


@dataclass(slots=True)
class Counts:
    findings: int = 0
    new: int = 0
    duplicate: int = 0
    reopened: int = 0
    escalated_kev: int = 0
    tickets_opened: int = 0


@dataclass(slots=True)
class _Group:
    """All results of one fingerprint within a batch."""

    first: NucleiResult
    last: NucleiResult
    count: int
    seen_at: datetime  # earliest of Nuclei's timestamps and the receive time


@dataclass
class IngestPipeline:
    ctx: AppContext
    session: Session
    scan_id: int
    now: datetime
    kev: dict[str, KevFacts]
    source: str = "nuclei"
    counts: Counts = field(default_factory=Counts)
    _batch: list[NucleiResult] = field(default_factory=list)
    _opened_now: set[int] = field(default_factory=set)
    _due_cache: dict[tuple[str, date, KevFacts | None], object] = field(default_factory=dict)

    def add(self, result: NucleiResult) -> None:
        self._batch.append(result)
        if len(self._batch) >= BATCH_SIZE:
            self.flush()

    def flush(self) -> None:
        batch, self._batch = self._batch, []
        if not batch:
            return
        self.counts.findings += len(batch)
        groups: dict[str, _Group] = {}
        for result in batch:
            seen = self.now if result.timestamp is None else min(result.timestamp, self.now)
            group = groups.get(result.fingerprint)
            if group is None:
                groups[result.fingerprint] = _Group(result, result, 1, seen)
            else:
                group.last, group.count = result, group.count + 1
                group.seen_at = min(group.seen_at, seen)
        # Only the columns the rules need (rows quack like Finding): loading whole ORM objects
        # with their JSON details would dominate a re-ingest.
        known: dict[str, Any] = {
            f.fingerprint: f
            for f in self.session.execute(
                select(*KNOWN_COLUMNS).where(Finding.fingerprint.in_(list(groups)))
            )
        }
        fresh = {fp: g for fp, g in groups.items() if fp not in known}
        self.counts.new += len(fresh)
        self.counts.duplicate += len(batch) - len(fresh)
        self._insert_new(fresh)
        self._update_known({fp: groups[fp] for fp in known}, known)
        self._record_occurrences(groups)

    # -- new findings -------------------------------------------------------------------------

    def _kev_for(self, cve_ids: tuple[str, ...]) -> KevFacts | None:
        for cve in cve_ids:
            fact = self.kev.get(cve)
            if fact is not None:
                return fact
        return None

    def _insert_new(self, fresh: dict[str, _Group]) -> None:
        if not fresh:
            return
        policy, now = self.ctx.policy, self.now
        rows: list[dict[str, Any]] = []
        kev_of: list[KevFacts | None] = []
        for group in fresh.values():
            result = group.first
            fact = self._kev_for(result.cve_ids)
            severity = effective_severity(policy, result.severity, in_kev=fact is not None)
            due = (
                self._initial_due(severity, group.seen_at, fact)
                if opens_ticket(policy, severity)
                else None
            )
            kev_of.append(fact)
            rows.append(
                {
                    "fingerprint": result.fingerprint,
                    "grouping_key": result.grouping_key,
                    "template_id": result.template_id,
                    "name": result.name,
                    "asset": result.asset,
                    "matcher_name": result.matcher_name,
                    "protocol": result.protocol,
                    "reported_severity": result.severity,
                    "severity": severity,
                    "cve_ids": list(result.cve_ids),
                    "kev": fact is not None,
                    "kev_date_added": fact.date_added if fact else None,
                    "kev_due_date": fact.due_date if fact else None,
                    "kev_ransomware": fact.known_ransomware if fact else None,
                    "kev_catalog_version": fact.catalog_version if fact else None,
                    "kev_delisted": False,
                    "status": "open",
                    "first_seen": group.seen_at,
                    "last_seen": now,
                    "clock_started_at": group.seen_at,
                    "escalated_at": now if fact else None,
                    "due_date": due,
                    "occurrences": group.count,
                    "last_scan_id": self.scan_id,
                    "details": finding_details(group.last),
                    "ticket_id": None,
                }
            )
        ticket_of = self._tickets_for_new(rows)
        for row in rows:
            row["ticket_id"] = ticket_of.get(row["grouping_key"])
        # Core executemany without RETURNING: SQLite's insertmanyvalues would fall back to a
        # statement per row to keep RETURNING ordered. Ids come back with one SELECT instead.
        insert_many(self.session, table_of(Finding), rows)
        id_of: dict[str, int] = {
            fp: fid
            for fp, fid in self.session.execute(
                select(Finding.fingerprint, Finding.id).where(
                    Finding.fingerprint.in_([row["fingerprint"] for row in rows])
                )
            )
        }
        ids = [id_of[row["fingerprint"]] for row in rows]
        cve_rows = [
            {"finding_id": fid, "cve_id": cve}
            for fid, row in zip(ids, rows, strict=True)
            for cve in row["cve_ids"]
        ]
        if cve_rows:
            insert_many(self.session, table_of(FindingCve), cve_rows)
        new_events: list[NewEvent] = []
        for fid, row, fact in zip(ids, rows, kev_of, strict=True):
            row["id"] = fid
            new_events.append(
                NewEvent(
                    kind="finding.new",
                    at=row["first_seen"],
                    source=self.source,
                    finding_id=fid,
                    ticket_id=row["ticket_id"],
                    to_state="open",
                    details={
                        "fingerprint": row["fingerprint"],
                        "template_id": row["template_id"],
                        "asset": row["asset"],
                        "matcher_name": row["matcher_name"],
                        "severity": row["severity"],
                        "reported_severity": row["reported_severity"],
                        "cve_ids": row["cve_ids"],
                        "due_date": row["due_date"],
                        "scan_id": self.scan_id,
                    },
                )
            )
            if fact is not None:
                self.counts.escalated_kev += 1
                new_events.append(
                    escalation_event(
                        finding_id=fid,
                        ticket_id=row["ticket_id"],
                        from_severity=row["reported_severity"],
                        to_severity=row["severity"],
                        at=now,
                        fact=fact,
                        cve_ids=row["cve_ids"],
                    )
                )
        append_events(self.session, new_events, now=now)
        # Tickets opened in this batch were drafted from these very findings (earliest due,
        # highest severity); only tickets that existed before need recomputing.
        attached = {
            row["ticket_id"]
            for row in rows
            if row["ticket_id"] is not None and row["ticket_id"] not in self._opened_now
        }
        recompute_tickets(self.session, attached, now=now, reason="new finding")

    def _initial_due(self, severity: str, seen_at: datetime, fact: KevFacts | None) -> date | None:
        """Memoized per (severity, local day, KEV entry): a batch shares a handful of each."""
        key = (severity, local_date(seen_at, self.ctx.tz), fact)
        cached = self._due_cache.get(key, _MISSING)
        if cached is _MISSING:
            cached = self._due_cache[key] = initial_due(
                self.ctx.policy, severity, seen_at, self.ctx.tz, fact
            )
        return cast("date | None", cached)

    def _tickets_for_new(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """grouping key → ticket id for findings that open (or join) a ticket."""
        wanted = [r for r in rows if r["due_date"] is not None]
        if not wanted:
            return {}
        keys = {r["grouping_key"] for r in wanted}
        existing: dict[str, int] = {}
        reopen: dict[int, datetime] = {}
        for tid, key, status in self.session.execute(
            select(Ticket.id, Ticket.grouping_key, Ticket.status).where(
                Ticket.grouping_key.in_(keys)
            )
        ):
            existing[key] = tid
            if status in RESOLVED_STATES:
                reopen[tid] = self.now
        drafts: dict[str, TicketDraft] = {}
        for row in wanted:
            key = row["grouping_key"]
            if key in existing:
                continue
            drafts[key] = merge_draft(
                drafts.get(key),
                TicketDraft(
                    grouping_key=key,
                    title=f"{row['name']} on {row['asset']}",
                    template_id=row["template_id"],
                    asset=row["asset"],
                    severity=row["severity"],
                    reported_severity=row["reported_severity"],
                    kev=row["kev"],
                    cve_ids=row["cve_ids"],
                    due_date=row["due_date"],
                    opened_at=self.now,
                    clock_started_at=row["first_seen"],
                ),
            )
        opened = open_tickets(
            self.session,
            list(drafts.values()),
            tracker=self.ctx.settings.tracker,
            policy=self.ctx.policy,
            now=self.now,
            source="system",
        )
        self.counts.tickets_opened += len(opened)
        self._opened_now = set(opened.values())
        if reopen:
            self._reopen_tickets(reopen)
        return existing | opened

    # -- known findings -----------------------------------------------------------------------

    def _update_known(self, groups: dict[str, _Group], known: dict[str, Finding]) -> None:
        if not groups:
            return
        now = self.now
        update_many(
            self.session,
            table_of(Finding),
            [
                {
                    "id": known[fp].id,
                    "last_seen": now,
                    "occurrences": g.count,
                    "last_scan_id": self.scan_id,
                }
                for fp, g in groups.items()
            ],
            increments=("occurrences",),
        )
        reappeared: dict[int, datetime] = {}
        regressions: list[tuple[Finding, _Group]] = []
        escalations: list[tuple[Finding, _Group, KevFacts | None]] = []
        for fp, group in groups.items():
            finding = known[fp]
            if finding.status == "resolved":
                regressions.append((finding, group))
                continue
            fact = None if finding.kev else self._kev_for(finding_cves(finding))
            if fact is not None or severity_rank(group.last.severity) != severity_rank(
                finding.reported_severity
            ):
                escalations.append((finding, group, fact))
        if regressions:
            self.counts.reopened += len(regressions)
            self.counts.duplicate -= len(regressions)
            for finding, group in regressions:
                if finding.ticket_id is not None:
                    when = reappeared.get(finding.ticket_id, group.seen_at)
                    reappeared[finding.ticket_id] = min(when, group.seen_at)
            self._reopen_findings(regressions)
            self._reopen_tickets(reappeared)
        if escalations:
            self._apply_severity_changes(escalations)

    def _reopen_findings(self, regressions: list[tuple[Finding, _Group]]) -> None:
        reopen_findings(self, regressions)

    def _reopen_tickets(self, reappeared: dict[int, datetime]) -> None:
        reopen_tickets(self, reappeared)

    def _apply_severity_changes(self, items: list[tuple[Finding, _Group, KevFacts | None]]) -> None:
        apply_severity_changes(self, items)

    # -- occurrences --------------------------------------------------------------------------

    def _record_occurrences(self, groups: dict[str, _Group]) -> None:
        ids: dict[str, int] = {
            fp: fid
            for fp, fid in self.session.execute(
                select(Finding.fingerprint, Finding.id).where(Finding.fingerprint.in_(list(groups)))
            )
        }
        rows = [
            {
                "finding_id": ids[fp],
                "scan_id": self.scan_id,
                "seen_at": g.seen_at,
                "matched_at": (g.last.matched_at or "")[:4096] or None,
            }
            for fp, g in groups.items()
        ]
        insert_many(
            self.session,
            table_of(Occurrence),
            rows,
            conflict_do_nothing=["finding_id", "scan_id"],
        )


def finding_cves(finding: Finding) -> tuple[str, ...]:
    return tuple(finding.cve_ids or ())
