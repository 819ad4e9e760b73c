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
from typing import Any, cast

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.bulk import fetch_in
from bot.findings.models import Finding
from bot.findings.rules import KevFacts, initial_due
from bot.ingest.new_findings import RowValues, insert_new
from bot.ingest.reopen import reopen_findings, reopen_tickets
from bot.ingest.severity import apply_severity_changes
from bot.ingest.sightings import Sighting
from bot.policy import local_date, severity_rank
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
_SEEN_AGAIN_SQL = (
    "UPDATE findings SET last_seen = ?, last_scan_id = ?, occurrences = occurrences + ? "
    "WHERE id {in}"
)
# The same update, when the ids came from the parser: the row's state comes back with it.
_SEEN_AGAIN_RETURNING_SQL = (
    _SEEN_AGAIN_SQL + " RETURNING fingerprint, id, status, reported_severity, kev, cve_ids"
)

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
    _values: RowValues | None = None
    # fingerprint → finding id, for findings a forked parser found already stored
    _known_ids: dict[str, int] = field(default_factory=dict)

    def add(self, result: Result) -> None:
        self._batch.append(result)
        if len(self._batch) >= BATCH_SIZE:
            self.flush()

    def add_parsed(self, sightings: list[Sighting], known_ids: dict[str, int]) -> None:
        """A forked parser's batch, with the ids of the findings that existed when this
        ingest began: those are updated by id, without a lookup by fingerprint."""
        self._known_ids.update(known_ids)
        self._batch.extend(sightings)
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
        known = self._seen_again(groups, self._take_known_ids(groups), returning=True)
        # (a hinted finding that did not come back would be looked up again, not lost)
        unhinted = [fp for fp in groups if fp not in known]
        looked_up = {row[0]: row for row in fetch_in(self.session, _KNOWN_SQL, unhinted)}
        fresh = {fp: groups[fp] for fp in unhinted if fp not in looked_up}
        self.counts.new += len(fresh)
        self.counts.duplicate += len(batch) - len(fresh)
        self._insert_new(fresh)
        self._seen_again(groups, {fp: row[1] for fp, row in looked_up.items()}, returning=False)
        known.update(looked_up)
        self._judge_known({fp: groups[fp] for fp in known}, known)

    def _take_known_ids(self, groups: dict[str, _Group]) -> dict[str, int]:
        """The parser's ids for this batch's findings. Every hint came with a sighting now in
        ``groups``, so none is left for a later batch."""
        ids, self._known_ids = self._known_ids, {}
        return {fp: ids[fp] for fp in groups if fp in ids} if ids else {}

    # -- new findings -------------------------------------------------------------------------

    def _kev_for(self, cve_ids: tuple[str, ...]) -> KevFacts | None:
        for cve in cve_ids:
            fact = self.kev.get(cve)
            if fact is not None:
                return fact
        return None

    def _insert_new(self, fresh: dict[str, _Group]) -> None:
        insert_new(self, fresh)

    def row_values(self) -> RowValues:
        """The driver-ready constants of this ingest, converted once."""
        if self._values is None:
            self._values = RowValues(self.session, self.now)
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

    # -- known findings -----------------------------------------------------------------------

    def _seen_again(
        self, groups: dict[str, _Group], ids: dict[str, int], *, returning: bool
    ) -> dict[str, _Known]:
        """Record another sighting of stored findings (fingerprint → id); with ``returning``,
        their state as the update leaves it."""
        if not ids:
            return {}
        ids_by_count: dict[int, list[int]] = {}
        for fp, finding_id in ids.items():
            ids_by_count.setdefault(groups[fp].count, []).append(finding_id)
        state: dict[str, _Known] = {}
        for count, batch in ids_by_count.items():  # nearly always one: seen once in the batch
            rows = fetch_in(
                self.session,
                _SEEN_AGAIN_RETURNING_SQL if returning else _SEEN_AGAIN_SQL,
                sorted(batch),
                params=(self.row_values().now, self.scan_id, count),
            )
            state.update((row[0], row) for row in rows)
        return state

    def _judge_known(self, groups: dict[str, _Group], known: dict[str, _Known]) -> None:
        """Findings seen again: reopen the resolved ones, escalate on news."""
        if not groups:
            return
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
            else:
                self._judge_severity(finding, group, escalations)
        if regressions:
            self.counts.reopened += len(regressions)
            self.counts.duplicate -= len(regressions)
            for finding, group in regressions:
                if finding.ticket_id is not None:
                    when = reappeared.get(finding.ticket_id, group.seen_at)
                    reappeared[finding.ticket_id] = min(when, group.seen_at)
            self._reopen_findings(regressions)
            self._reopen_tickets(reappeared)
            # Open again, a regression is judged like any open finding, from its restarted
            # clock: a CVE that entered KEV while it was resolved, or a higher reported
            # severity, escalates it now rather than at the next catalog or scan.
            for finding in self.session.execute(
                select(*KNOWN_COLUMNS).where(
                    Finding.fingerprint.in_([f.fingerprint for f, _ in regressions])
                )
            ):
                self._judge_severity(finding, groups[finding.fingerprint], escalations)
        if escalations:
            self._apply_severity_changes(escalations)

    def _judge_severity(
        self,
        finding: Any,
        group: _Group,
        escalations: list[tuple[Finding, _Group, KevFacts | None]],
    ) -> None:
        changed, fact = self._severity_news(
            finding.kev, finding.cve_ids, finding.reported_severity, group
        )
        if changed:
            escalations.append((finding, group, fact))

    def _is_news(self, known: _Known, group: _Group) -> bool:
        """More than a sighting: a regression, a severity change or a CVE now in KEV."""
        _, _, status, reported, in_kev, cves = known
        return status == "resolved" or self._severity_news(in_kev, cves, reported, group)[0]

    def _severity_news(
        self, in_kev: Any, cves: Any, reported: str, group: _Group
    ) -> tuple[bool, KevFacts | None]:
        """Whether this sighting changes the finding's severity: another reported severity,
        or a CVE that is in KEV now (its facts). ``cves`` as stored (JSON text or a list)."""
        fact = None if in_kev or not self.kev else self._kev_for(_cve_list(cves))
        changed = severity_rank(group.last.severity) != severity_rank(reported)
        return changed or fact is not None, fact

    def _reopen_findings(self, regressions: list[tuple[Finding, _Group]]) -> None:
        reopen_findings(self, regressions)

    def _reopen_tickets(self, reappeared: dict[int, datetime]) -> None:
        reopen_tickets(self, reappeared)

    def _apply_severity_changes(self, items: list[tuple[Finding, _Group, KevFacts | None]]) -> None:
        apply_severity_changes(self, items)


def _cve_list(raw: object) -> tuple[str, ...]:
    """``cve_ids`` as the driver returns it: JSON text on SQLite, a list on PostgreSQL."""
    if not raw or raw == "[]":
        return ()
    values = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return tuple(values) if isinstance(values, list) else ()
