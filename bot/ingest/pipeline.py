"""The ingest pipeline: Nuclei results → findings, tickets and events.

Results are processed in batches inside the caller's single transaction (the whole body is
atomic). Per batch: one SELECT for the findings already known, one for the tickets of new
findings, then batched INSERTs/UPDATEs and one batch of events. Nothing is kept per finding
across batches, so memory does not grow with the size of the scan; a finding seen again in a
later batch of the same body is found by the SELECT, since the earlier batch was flushed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from operator import itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.bulk import (
    allocate_ids,
    converter,
    execute_many,
    fetch_in,
    insert_sql,
    json_text_converter,
    to_db,
)
from bot.database.core import table_of
from bot.events.service import NewEvent, append_events
from bot.findings.events import escalation_event
from bot.findings.models import Finding, FindingCve, FindingEvidence
from bot.findings.rules import KevFacts, initial_due
from bot.ingest.reopen import reopen_findings, reopen_tickets
from bot.ingest.severity import apply_severity_changes
from bot.ingest.sightings import Sighting, evidence_text
from bot.policy import effective_severity, local_date, opens_ticket, severity_rank
from bot.tickets.service import (
    RESOLVED_STATES,
    TicketDraft,
    merge_draft,
    open_tickets,
    recompute_tickets,
)
from integrations.nuclei import NucleiResult

# A result parsed here, or one handed over by a forked parser (evidence already serialized).
Result = NucleiResult | Sighting

BATCH_SIZE = 2000
_MISSING = object()
# fingerprint, id, status, reported_severity, kev, cve_ids (driver values)
_Known = tuple[str, int, str, str, Any, Any]
_KNOWN_SQL = (
    "SELECT fingerprint, id, status, reported_severity, kev, cve_ids "
    "FROM findings WHERE fingerprint {in}"
)
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
    new_below_threshold: int = 0


@dataclass(slots=True)
class _Group:
    """All results of one fingerprint within a batch."""

    first: Result
    last: Result
    count: int
    seen_at: datetime  # earliest of Nuclei's timestamps and the receive time


@dataclass(slots=True)
class _NewFinding:
    group: _Group
    severity: str
    due: date | None
    fact: KevFacts | None
    ticket_id: int | None = None


class _RowValues:
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


@dataclass
class IngestPipeline:
    ctx: AppContext
    session: Session
    scan_id: int
    now: datetime
    kev: dict[str, KevFacts]
    source: str = "nuclei"
    counts: Counts = field(default_factory=Counts)
    _batch: list[Result] = field(default_factory=list)
    _opened_now: set[int] = field(default_factory=set)
    _due_cache: dict[tuple[str, date, KevFacts | None], object] = field(default_factory=dict)
    _values: _RowValues | None = None

    def add(self, result: Result) -> None:
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
        # Plain driver tuples of the few columns that tell a duplicate from news: a re-ingest is
        # mostly duplicates, and full rows (ORM, JSON, dates) would dominate its time.
        known: dict[str, _Known] = {
            row[0]: row for row in fetch_in(self.session, _KNOWN_SQL, list(groups))
        }
        fresh = {fp: g for fp, g in groups.items() if fp not in known}
        self.counts.new += len(fresh)
        self.counts.duplicate += len(batch) - len(fresh)
        self._insert_new(fresh)
        self._update_known({fp: groups[fp] for fp in known}, known)

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
        ticket_of = self._tickets_for_new(news)
        w = self._writer()
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
            if new.due is None:
                # Below the ticket threshold: no obligation, so no event of its own; the scan's
                # event counts it, and an escalation later records it with its ticket.
                self.counts.new_below_threshold += 1
            else:
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

    def _writer(self) -> _RowValues:
        if self._values is None:
            self._values = _RowValues(self.session, self.now)
        return self._values

    def _initial_due(self, severity: str, seen_at: datetime, fact: KevFacts | None) -> date | None:
        """Memoized per (severity, local day, KEV entry): a batch shares a handful of each."""
        key = (severity, local_date(seen_at, self.ctx.tz), fact)
        cached = self._due_cache.get(key, _MISSING)
        if cached is _MISSING:
            cached = self._due_cache[key] = initial_due(
                self.ctx.policy, severity, seen_at, self.ctx.tz, fact
            )
        return cast("date | None", cached)

    def _tickets_for_new(self, news: list[_NewFinding]) -> dict[str, int]:
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

    # -- known findings -----------------------------------------------------------------------

    def _update_known(self, groups: dict[str, _Group], known: dict[str, _Known]) -> None:
        if not groups:
            return
        findings = table_of(Finding)
        last_seen = to_db(self.session, findings, "last_seen", self.now)
        execute_many(
            self.session,
            "UPDATE findings SET last_seen = ?, last_scan_id = ?, "
            "occurrences = occurrences + ? WHERE id = ?",
            sorted(
                ((last_seen, self.scan_id, g.count, known[fp][1]) for fp, g in groups.items()),
                key=itemgetter(3),
            ),
        )
        news = [fp for fp, group in groups.items() if self._is_news(known[fp], group)]
        if not news:
            return
        full: dict[str, Any] = {
            f.fingerprint: f
            for f in self.session.execute(
                select(*KNOWN_COLUMNS).where(Finding.fingerprint.in_(news))
            )
        }
        reappeared: dict[int, datetime] = {}
        regressions: list[tuple[Finding, _Group]] = []
        escalations: list[tuple[Finding, _Group, KevFacts | None]] = []
        for fp in news:
            finding, group = full[fp], groups[fp]
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

    def _is_news(self, known: _Known, group: _Group) -> bool:
        """More than a sighting: a regression, a severity change or a CVE now in KEV."""
        _, _, status, reported, in_kev, cves = known
        if status == "resolved":
            return True
        if severity_rank(group.last.severity) != severity_rank(reported):
            return True
        return bool(self.kev) and not in_kev and self._kev_for(_cve_list(cves)) is not None

    def _reopen_findings(self, regressions: list[tuple[Finding, _Group]]) -> None:
        reopen_findings(self, regressions)

    def _reopen_tickets(self, reappeared: dict[int, datetime]) -> None:
        reopen_tickets(self, reappeared)

    def _apply_severity_changes(self, items: list[tuple[Finding, _Group, KevFacts | None]]) -> None:
        apply_severity_changes(self, items)


def finding_cves(finding: Finding) -> tuple[str, ...]:
    return tuple(finding.cve_ids or ())


def _cve_list(raw: object) -> tuple[str, ...]:
    """``cve_ids`` as the driver returns it: JSON text on SQLite, a list on PostgreSQL."""
    if not raw or raw == "[]":
        return ()
    values = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return tuple(values) if isinstance(values, list) else ()
