"""Replay the event log into per-ticket state as of a cutoff (pure; no database).

The rule shared by the weekly snapshot and ``evidence week``: the state as of the end of an
ISO week is the fold of every event whose ``recorded_at`` is before the cutoff (the Monday
00:00 UTC after the week), in ``seq`` order. Nothing but the events is read, so a snapshot
written on time and one rebuilt later from the log agree in every count and list.

Rows are consumed one at a time (as :func:`bot.events.service.iter_rows` yields them); the
state kept is one small object per ticket, the scan times per target, and the scans and gaps
of the reported period.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.events import kinds
from bot.events.chain import GENESIS_HASH

RESOLVED_STATES = frozenset({"resolved", "resolved_unverified"})


@dataclass(slots=True)
class Acceptance:
    request_id: str | None
    approver: str | None
    approver_id: str | None
    expires_on: str | None
    approved_at: datetime


@dataclass(slots=True)
class TicketState:
    id: int
    title: str
    asset: str
    template_id: str
    severity: str
    kev: bool
    cve_ids: set[str]
    status: str
    due_date: str | None
    opened_at: datetime
    clock_started_at: datetime
    resolved_at: datetime | None = None
    acceptance: Acceptance | None = None


@dataclass(frozen=True, slots=True)
class ScanReceived:
    at: datetime
    target: str | None
    findings: int
    sha256: str | None
    artifact: str | None
    scan_id: int | None


@dataclass(frozen=True, slots=True)
class RecordedGap:
    target: str
    window_start: str
    window_end: str
    cron: str | None


@dataclass(slots=True)
class LogState:
    """What the log says as of the cutoff."""

    cutoff: datetime
    period_start: datetime
    tickets: dict[int, TicketState] = field(default_factory=dict)
    # every scan time per target (cadence needs the history), full records only in the period
    scan_times: dict[str, list[datetime]] = field(default_factory=dict)
    scans: list[ScanReceived] = field(default_factory=list)
    gaps: list[RecordedGap] = field(default_factory=list)
    kev_catalog_version: str | None = None
    head_seq: int = 0
    head_hash: str = GENESIS_HASH
    replayed: int = 0
    # facts about tickets seen before their ticket.opened (same batch, other order)
    _pending_kev: set[int] = field(default_factory=set)
    _pending_cves: dict[int, set[str]] = field(default_factory=dict)


def _parse_time(value: Any, default: datetime) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return default
    return default


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


class Replayer:
    """Feed rows oldest first; rows recorded at or after the cutoff are skipped."""

    def __init__(self, *, cutoff: datetime, period_start: datetime) -> None:
        self.state = LogState(cutoff=cutoff, period_start=period_start)

    def feed(self, row: Mapping[str, Any]) -> None:
        if row["recorded_at"] >= self.state.cutoff:
            return
        self.count(int(row["seq"]), str(row["hash"]))
        self.apply(row)

    def apply(self, row: Mapping[str, Any]) -> None:
        """The state change of a row recorded before the cutoff, without counting it (the
        caller counts every row and finds the head: see :meth:`count`)."""
        handler = _HANDLERS.get(row["kind"])
        if handler is not None:
            handler(self.state, row, row["details"] or {})

    def count(self, seq: int, row_hash: str) -> None:
        """A row recorded before the cutoff whose kind the replay does not read."""
        state = self.state
        state.replayed += 1
        if seq > state.head_seq:
            state.head_seq, state.head_hash = seq, row_hash

    def feed_all(self, rows: Iterable[Mapping[str, Any]]) -> LogState:
        for row in rows:
            self.feed(row)
        return self.state


def replay(
    rows: Iterable[Mapping[str, Any]], *, cutoff: datetime, period_start: datetime
) -> LogState:
    return Replayer(cutoff=cutoff, period_start=period_start).feed_all(rows)


# -- one handler per kind ---------------------------------------------------------------------

Row = Mapping[str, Any]
Details = Mapping[str, Any]


def _ticket(state: LogState, row: Row) -> TicketState | None:
    tid = row["ticket_id"]
    return None if tid is None else state.tickets.get(int(tid))


def _opened(state: LogState, row: Row, d: Details) -> None:
    tid = row["ticket_id"]
    if tid is None:
        return
    tid = int(tid)
    cves = {str(c) for c in d.get("cve_ids") or ()} | state._pending_cves.pop(tid, set())
    at: datetime = row["at"]
    state.tickets[tid] = TicketState(
        id=tid,
        title=str(d.get("title") or ""),
        asset=str(d.get("asset") or ""),
        template_id=str(d.get("template_id") or ""),
        severity=str(d.get("severity") or "unknown"),
        kev=bool(d.get("kev")) or tid in state._pending_kev,
        cve_ids=cves,
        status=str(row["to_state"] or "open"),
        due_date=_str_or_none(d.get("due_date")),
        opened_at=at,
        clock_started_at=at,
    )
    state._pending_kev.discard(tid)


def _set_status(ticket: TicketState, to: str, at: datetime) -> None:
    if to in RESOLVED_STATES:
        if ticket.status not in RESOLVED_STATES or ticket.resolved_at is None:
            ticket.resolved_at = at
    else:
        ticket.resolved_at = None
    if to != "risk_accepted":
        ticket.acceptance = None
    ticket.status = to


def _status_changed(state: LogState, row: Row, d: Details) -> None:
    ticket = _ticket(state, row)
    if ticket is None or d.get("applied") is False or not row["to_state"]:
        return
    _set_status(ticket, str(row["to_state"]), row["at"])


def _reopened(state: LogState, row: Row, d: Details) -> None:
    ticket = _ticket(state, row)
    if ticket is None:
        return
    _set_status(ticket, str(row["to_state"] or "open"), row["at"])
    if "new_due_date" in d:
        ticket.due_date = _str_or_none(d.get("new_due_date"))
    ticket.clock_started_at = _parse_time(d.get("clock_restarted_at"), row["at"])


def _approved(state: LogState, row: Row, d: Details) -> None:
    ticket = _ticket(state, row)
    if ticket is None:
        return
    _set_status(ticket, str(row["to_state"] or "risk_accepted"), row["at"])
    ticket.acceptance = Acceptance(
        request_id=_str_or_none(d.get("request_id")),
        approver=_str_or_none(d.get("approver_name") or d.get("approver_id") or row["actor"]),
        approver_id=_str_or_none(d.get("approver_id")),
        expires_on=_str_or_none(d.get("expires_on")),
        approved_at=row["at"],
    )


def _expired(state: LogState, row: Row, d: Details) -> None:
    ticket = _ticket(state, row)
    if ticket is not None:
        _set_status(ticket, str(row["to_state"] or "open"), row["at"])


def _due_changed(state: LogState, row: Row, d: Details) -> None:
    ticket = _ticket(state, row)
    if ticket is not None and "new_due_date" in d:
        ticket.due_date = _str_or_none(d.get("new_due_date"))


def _escalated(state: LogState, row: Row, d: Details) -> None:
    ticket = _ticket(state, row)
    if ticket is None:
        return
    if row["to_state"]:
        ticket.severity = str(row["to_state"])
    if d.get("kev"):
        ticket.kev = True


def _finding_facts(state: LogState, row: Row, d: Details) -> None:
    """finding.new / finding.escalated: CVE ids and the KEV flag of the finding's ticket."""
    tid = row["ticket_id"]
    if tid is None:
        return
    tid = int(tid)
    cves = {str(c) for c in d.get("cve_ids") or ()}
    kev = row["kind"] == kinds.FINDING_ESCALATED and d.get("reason") == "kev"
    ticket = state.tickets.get(tid)
    if ticket is None:
        if cves:
            state._pending_cves.setdefault(tid, set()).update(cves)
        if kev:
            state._pending_kev.add(tid)
        return
    ticket.cve_ids |= cves
    ticket.kev = ticket.kev or kev


def _scan(state: LogState, row: Row, d: Details) -> None:
    at: datetime = row["at"]
    target = _str_or_none(d.get("target"))
    if target is not None:
        state.scan_times.setdefault(target, []).append(at)
    if at >= state.period_start:
        scan_id = d.get("scan_id")
        state.scans.append(
            ScanReceived(
                at=at,
                target=target,
                findings=int(d.get("findings") or 0),
                sha256=_str_or_none(d.get("sha256")),
                artifact=_str_or_none(d.get("artifact")),
                scan_id=None if scan_id is None else int(scan_id),
            )
        )


def _missed(state: LogState, row: Row, d: Details) -> None:
    if d.get("target") is None or d.get("window_end") is None:
        return
    state.gaps.append(
        RecordedGap(
            target=str(d["target"]),
            window_start=str(d.get("window_start") or ""),
            window_end=str(d["window_end"]),
            cron=_str_or_none(d.get("cron")),
        )
    )


def _kev_loaded(state: LogState, row: Row, d: Details) -> None:
    if d.get("catalog_version") is not None:
        state.kev_catalog_version = str(d["catalog_version"])


_HANDLERS = {
    kinds.TICKET_OPENED: _opened,
    kinds.TICKET_STATUS_CHANGED: _status_changed,
    kinds.TICKET_REOPENED: _reopened,
    kinds.ACCEPTANCE_APPROVED: _approved,
    kinds.ACCEPTANCE_EXPIRED: _expired,
    kinds.TICKET_DUE_CHANGED: _due_changed,
    kinds.TICKET_ESCALATED: _escalated,
    kinds.FINDING_NEW: _finding_facts,
    kinds.FINDING_ESCALATED: _finding_facts,
    kinds.SCAN_INGESTED: _scan,
    kinds.SCAN_MISSED: _missed,
    kinds.KEV_CATALOG_LOADED: _kev_loaded,
}

# The kinds that change the replayed state; rows of other kinds only count and move the head.
STATE_KINDS = frozenset(_HANDLERS)
