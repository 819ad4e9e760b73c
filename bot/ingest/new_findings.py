"""New findings at ingest: rows, evidence, CVE index, ``finding.new`` events, and the tickets
they open or join. Rows are built as driver-ready tuples: a first ingest is mostly this."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from bot.database.bulk import (
    allocate_ids,
    converter,
    execute_many,
    fetch_in,
    insert_sql,
    json_text_converter,
)
from bot.database.core import table_of
from bot.events.service import NewEvent, append_events
from bot.findings.events import escalation_event
from bot.findings.models import Finding, FindingCve, FindingEvidence
from bot.findings.rules import KevFacts
from bot.ingest.sightings import evidence_text
from bot.policy import effective_severity, opens_ticket
from bot.tickets.service import (
    RESOLVED_STATES,
    TicketDraft,
    merge_draft,
    open_tickets,
    recompute_tickets,
)

if TYPE_CHECKING:
    from bot.ingest.pipeline import IngestPipeline, _Group

_TICKETS_SQL = "SELECT id, grouping_key, status FROM tickets WHERE grouping_key {in}"
_FINDING_COLUMNS = (
    "id",
    "fingerprint",
    "grouping_key",
    "ticket_id",
    "template_id",
    "name",
    "asset",
    "matcher_name",
    "protocol",
    "reported_severity",
    "severity",
    "cve_ids",
    "kev",
    "kev_date_added",
    "kev_due_date",
    "kev_ransomware",
    "kev_catalog_version",
    "kev_delisted",
    "status",
    "first_seen",
    "last_seen",
    "clock_started_at",
    "escalated_at",
    "due_date",
    "occurrences",
    "last_scan_id",
)
_INSERT_FINDING_SQL = insert_sql(table_of(Finding), _FINDING_COLUMNS)
_INSERT_EVIDENCE_SQL = insert_sql(table_of(FindingEvidence), ("finding_id", "details"))
_INSERT_CVE_SQL = insert_sql(table_of(FindingCve), ("finding_id", "cve_id"))


@dataclass(slots=True)
class _NewFinding:
    group: _Group
    severity: str
    due: date | None
    fact: KevFacts | None
    ticket_id: int | None = None


class RowValues:
    """Driver-ready values for the batch inserts, with the per-ingest constants converted
    once (the converters differ between SQLite and PostgreSQL)."""

    def __init__(self, session: Session, now: datetime) -> None:
        findings = table_of(Finding)
        self._time = converter(session, findings, "first_seen")
        self.date = converter(session, findings, "due_date")
        self.json = converter(session, findings, "cve_ids")
        self.json_text = json_text_converter(session)
        self.bool = converter(session, findings, "kev")
        self.true, self.false = self.bool(True), self.bool(False)
        self.no_cves = self.json([])
        self.now = self._time(now)
        self._times: dict[datetime, Any] = {}

    def time(self, value: datetime) -> Any:
        converted = self._times.get(value)
        if converted is None:
            if len(self._times) > 4096:
                self._times.clear()
            converted = self._times[value] = self._time(value)
        return converted


def insert_new(self: IngestPipeline, fresh: dict[str, _Group]) -> None:
    if not fresh:
        return
    policy, now, session = self.ctx.policy, self.now, self.session
    news: list[_NewFinding] = []
    for group in fresh.values():
        result = group.first
        fact = self._kev_for(result.cve_ids)
        severity = effective_severity(policy, result.severity, in_kev=fact is not None)
        due = (
            self._initial_due(severity, group.seen_at, fact)
            if opens_ticket(policy, severity)
            else None
        )
        news.append(_NewFinding(group, severity, due, fact))
    ids = allocate_ids(session, table_of(Finding), len(news))
    ticket_of = _tickets_for_new(self, news)
    w = self.row_values()
    finding_rows: list[tuple[Any, ...]] = []
    evidence_rows: list[tuple[int, Any]] = []
    cve_rows: list[tuple[int, str]] = []
    new_events: list[NewEvent] = []
    for fid, new in zip(ids, news, strict=True):
        result, fact, seen_at = new.group.first, new.fact, new.group.seen_at
        ticket_id = ticket_of.get(result.grouping_key)
        cve_ids = list(result.cve_ids)
        seen_db = w.time(seen_at)
        finding_rows.append(
            (
                fid,
                result.fingerprint,
                result.grouping_key,
                ticket_id,
                result.template_id,
                result.name,
                result.asset,
                result.matcher_name,
                result.protocol,
                result.severity,
                new.severity,
                w.json(cve_ids) if cve_ids else w.no_cves,
                w.true if fact else w.false,
                w.date(fact.date_added) if fact else None,
                w.date(fact.due_date) if fact else None,
                w.bool(fact.known_ransomware) if fact else None,
                fact.catalog_version if fact else None,
                w.false,
                "open",
                seen_db,
                w.now,
                seen_db,
                w.now if fact else None,
                w.date(new.due),
                new.group.count,
                self.scan_id,
            )
        )
        evidence_rows.append((fid, w.json_text(evidence_text(new.group.last))))
        cve_rows.extend((fid, cve) for cve in cve_ids)
        if new.due is None:  # below the ticket threshold: stored, no ticket
            self.counts.new_below_threshold += 1
        new_events.append(
            NewEvent(
                kind="finding.new",
                at=seen_at,
                source=self.source,
                finding_id=fid,
                ticket_id=ticket_id,
                to_state="open",
                details={
                    "fingerprint": result.fingerprint,
                    "template_id": result.template_id,
                    "asset": result.asset,
                    "matcher_name": result.matcher_name,
                    "severity": new.severity,
                    "reported_severity": result.severity,
                    "cve_ids": cve_ids,
                    "due_date": new.due,
                    "scan_id": self.scan_id,
                },
            )
        )
        if fact is not None:
            self.counts.escalated_kev += 1
            new_events.append(
                escalation_event(
                    finding_id=fid,
                    ticket_id=ticket_id,
                    from_severity=result.severity,
                    to_severity=new.severity,
                    at=now,
                    fact=fact,
                    cve_ids=cve_ids,
                )
            )
        new.ticket_id = ticket_id
    execute_many(session, _INSERT_FINDING_SQL, finding_rows)
    execute_many(session, _INSERT_EVIDENCE_SQL, evidence_rows)
    execute_many(session, _INSERT_CVE_SQL, cve_rows)
    append_events(session, new_events, now=now)
    # Tickets opened in this batch were drafted from these very findings (earliest due,
    # highest severity); only tickets that existed before need recomputing.
    attached = {
        new.ticket_id
        for new in news
        if new.ticket_id is not None and new.ticket_id not in self._opened_now
    }
    recompute_tickets(session, attached, now=now, reason="new finding")


def _tickets_for_new(self: IngestPipeline, news: list[_NewFinding]) -> dict[str, int]:
    """grouping key → ticket id for findings that open (or join) a ticket."""
    wanted = [new for new in news if new.due is not None]
    if not wanted:
        return {}
    keys = {new.group.first.grouping_key for new in wanted}
    existing: dict[str, int] = {}
    reopen: dict[int, datetime] = {}
    for tid, key, status in fetch_in(self.session, _TICKETS_SQL, list(keys)):
        existing[key] = tid
        if status in RESOLVED_STATES:
            reopen[tid] = self.now
    drafts: dict[str, TicketDraft] = {}
    for new in wanted:
        result = new.group.first
        key = result.grouping_key
        if key in existing:
            continue
        drafts[key] = merge_draft(
            drafts.get(key),
            TicketDraft(
                grouping_key=key,
                title=f"{result.name} on {result.asset}",
                template_id=result.template_id,
                asset=result.asset,
                severity=new.severity,
                reported_severity=result.severity,
                kev=new.fact is not None,
                cve_ids=list(result.cve_ids),
                due_date=new.due,
                opened_at=self.now,
                clock_started_at=new.group.seen_at,
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
