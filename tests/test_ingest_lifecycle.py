"""Issue 3: finding identity, re-ingest, and the finding/ticket lifecycle at ingest."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

from bot.context import AppContext
from tests.helpers_ingest import (
    counts,
    events,
    findings,
    ingest_bytes,
    jobs,
    jsonl,
    kinds,
    record,
    set_ticket_status,
    tickets,
    with_settings,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- identity ---------------------------------------------------------------------------------


def test_old_and_new_key_styles_shuffled_meta_and_timestamps_are_one_finding(
    ctx: AppContext,
) -> None:
    meta = {"username": "admin", "port": "22", "protocol": "ssh", "zone": "eu"}
    shuffled = dict(random.Random(7).sample(list(meta.items()), len(meta)))
    assert list(shuffled) != list(meta)
    new_style = record(
        "exposed-panel",
        matched_at="https://App.Example.com.:443/admin/login?x=1",
        matcher="login-page",
        timestamp="2026-03-01T08:00:00.123456789+02:00",
        name="Exposed Panel",
        meta=meta,
    )
    old_style = record(
        "exposed-panel",
        matched_at="https://app.example.com/other/path",
        matcher="login-page",
        timestamp="2026-03-02T09:59:00Z",
        name="Exposed admin panel (renamed in a later template version)",
        old_keys=True,
        meta=shuffled,
    )
    summary = ingest_bytes(ctx, jsonl([new_style, old_style]), now=NOW)
    assert (summary.findings, summary.new, summary.duplicate) == (2, 1, 1)
    [finding] = findings(ctx)
    assert finding.asset == "https://app.example.com"
    assert finding.occurrences == 2
    # first_seen = earliest Nuclei timestamp (08:00+02:00 = 06:00Z), earlier than receive time
    assert finding.first_seen == datetime(2026, 3, 1, 6, 0, 0, 123456, tzinfo=UTC)

    # and again, in another body, old style only: a duplicate
    again = ingest_bytes(ctx, jsonl([old_style]), now=NOW + timedelta(hours=1))
    assert (again.findings, again.new, again.duplicate) == (1, 0, 1)
    assert len(findings(ctx)) == 1


def test_reingest_is_all_duplicates_and_queues_nothing(ctx: AppContext) -> None:
    # A remote tracker, so opening a ticket queues a tracker job: a re-ingest must queue none.
    jira = with_settings(ctx, tracker="jira")
    body = jsonl(
        [
            record("t-crit", severity="critical", matched_at="https://a.example.com/"),
            record("t-high", severity="high", matched_at="https://b.example.com/x"),
            record("t-info", severity="info", matched_at="https://b.example.com/y"),
        ]
    )
    first = ingest_bytes(jira, body, now=NOW)
    assert (first.new, first.tickets_opened) == (3, 2)
    assert sorted(j.kind for j in jobs(jira)) == ["tracker.create", "tracker.create"]
    before = counts(jira)
    later = NOW + timedelta(days=3)
    second = ingest_bytes(jira, body, now=later)
    assert second.as_dict() | {"scan_id": None} == {
        "scan_id": None,
        "findings": 3,
        "new": 0,
        "duplicate": 3,
        "reopened": 0,
        "escalated_kev": 0,
        "tickets_opened": 0,
        "ignored": 0,
    }
    after = counts(jira)
    assert after["jobs"] == before["jobs"]
    assert after["tickets"] == before["tickets"] == 2
    assert after["findings"] == before["findings"] == 3
    assert after["events"] == before["events"] + 1  # scan.ingested only
    for finding in findings(jira):
        assert finding.last_seen == later
        assert finding.first_seen == NOW
        assert finding.occurrences == 2
        assert finding.last_scan_id == second.scan_id


# -- lifecycle --------------------------------------------------------------------------------


def test_new_finding_opens_ticket_with_policy_due_date(ctx: AppContext) -> None:
    # Nuclei saw it at 23:30Z on 27 Feb; slabot receives it on 2 March: the clock starts at
    # the earlier time. high -> 60 days: 2026-02-27 + 60 = 2026-04-28.
    seen = datetime(2026, 2, 27, 23, 30, tzinfo=UTC)
    summary = ingest_bytes(ctx, jsonl([record("sqli", timestamp=iso(seen))]), now=NOW)
    assert (summary.new, summary.tickets_opened) == (1, 1)
    [finding] = findings(ctx)
    [ticket] = tickets(ctx)
    assert finding.first_seen == seen
    assert finding.due_date == date(2026, 4, 28) == seen.date() + timedelta(days=60)
    assert ticket.due_date == date(2026, 4, 28)
    assert ticket.status == "open" and ticket.severity == "high"
    assert finding.ticket_id == ticket.id
    [new] = events(ctx, "finding.new")
    assert new.at == seen and new.finding_id == finding.id and new.ticket_id == ticket.id
    assert new.details["due_date"] == "2026-04-28"
    [opened] = events(ctx, "ticket.opened")
    assert opened.ticket_id == ticket.id and opened.to_state == "open"
    assert opened.details["due_date"] == "2026-04-28"
    assert opened.details["policy"] == ctx.policy.name


def test_timestamp_after_receive_time_uses_receive_time(ctx: AppContext) -> None:
    future = NOW + timedelta(days=2)
    ingest_bytes(ctx, jsonl([record("sqli", severity="critical", timestamp=iso(future))]), now=NOW)
    [finding] = findings(ctx)
    assert finding.first_seen == NOW
    assert finding.due_date == date(2026, 4, 1)  # 2 March + 30


def test_seen_again_after_resolution_reopens_with_clock_restarted(ctx: AppContext) -> None:
    ingest_bytes(ctx, jsonl([record("sqli", severity="high")]), now=NOW)
    [ticket] = tickets(ctx)
    assert ticket.due_date == date(2026, 5, 1)  # 2 March + 60
    set_ticket_status(ctx, ticket.id, "resolved", at=NOW + timedelta(days=5))
    before = len(events(ctx))

    back = datetime(2026, 3, 20, 7, 0, tzinfo=UTC)
    received = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)
    summary = ingest_bytes(ctx, jsonl([record("sqli", timestamp=iso(back))]), now=received)
    assert (summary.findings, summary.new, summary.duplicate, summary.reopened) == (1, 0, 0, 1)
    assert summary.tickets_opened == 0

    [ticket] = tickets(ctx)
    assert ticket.status == "open"
    assert ticket.resolved_at is None
    assert ticket.clock_started_at == back
    assert ticket.due_date == date(2026, 5, 19)  # 20 March + 60: the SLA clock restarted
    [finding] = findings(ctx)
    assert finding.status == "open" and finding.due_date == date(2026, 5, 19)
    assert finding.first_seen == NOW  # first seen is history, not reset
    [reopened] = events(ctx, "ticket.reopened")
    assert reopened.ticket_id == ticket.id
    assert (reopened.from_state, reopened.to_state) == ("resolved", "open")
    assert reopened.details["clock_restarted_at"].startswith("2026-03-20T07:00:00")
    assert reopened.details["old_due_date"] == "2026-05-01"
    assert reopened.details["new_due_date"] == "2026-05-19"
    assert kinds(ctx)[before:] == ["ticket.reopened", "scan.ingested"]


def test_seen_again_while_risk_accepted_only_counts_the_occurrence(ctx: AppContext) -> None:
    ingest_bytes(ctx, jsonl([record("sqli", severity="high")]), now=NOW)
    [ticket] = tickets(ctx)
    set_ticket_status(ctx, ticket.id, "risk_accepted", at=NOW + timedelta(days=1))
    before = counts(ctx)
    summary = ingest_bytes(ctx, jsonl([record("sqli")]), now=NOW + timedelta(days=7))
    assert (summary.duplicate, summary.reopened, summary.tickets_opened) == (1, 0, 0)
    after = counts(ctx)
    assert after["events"] == before["events"] + 1  # scan.ingested only
    assert after["jobs"] == before["jobs"]
    [ticket_after] = tickets(ctx)
    assert ticket_after.status == "risk_accepted"
    assert ticket_after.due_date == ticket.due_date
    assert findings(ctx)[0].occurrences == 2


def test_below_min_severity_is_stored_without_ticket(ctx: AppContext) -> None:
    summary = ingest_bytes(
        ctx,
        jsonl([record("banner", severity="low"), record("tech", severity="info")]),
        now=NOW,
    )
    assert (summary.findings, summary.new, summary.tickets_opened) == (2, 2, 0)
    assert counts(ctx)["tickets"] == 0
    assert all(f.ticket_id is None and f.due_date is None for f in findings(ctx))
    assert events(ctx, "ticket.opened") == []
    assert {e.finding_id for e in events(ctx, "finding.new")} == {f.id for f in findings(ctx)}
    assert all(e.ticket_id is None for e in events(ctx, "finding.new"))
    [scan_event] = events(ctx, "scan.ingested")
    assert scan_event.details["new_below_threshold"] == 2


def test_higher_reported_severity_escalates_and_tightens(ctx: AppContext) -> None:
    ingest_bytes(ctx, jsonl([record("xss", severity="medium")]), now=NOW)
    [ticket] = tickets(ctx)
    assert ticket.due_date == date(2026, 5, 31)  # 2 March + 90
    later = NOW + timedelta(days=10)  # 12 March
    summary = ingest_bytes(ctx, jsonl([record("xss", severity="high")]), now=later)
    assert (summary.duplicate, summary.escalated_kev) == (1, 0)
    # min(31 May, max(first_seen, 12 March) + 60 = 11 May) = 11 May
    [finding] = findings(ctx)
    assert (finding.severity, finding.reported_severity) == ("high", "high")
    assert finding.due_date == date(2026, 5, 11)
    [ticket] = tickets(ctx)
    assert (ticket.severity, ticket.due_date) == ("high", date(2026, 5, 11))
    [escalated] = events(ctx, "finding.escalated")
    assert (escalated.from_state, escalated.to_state) == ("medium", "high")
    assert escalated.details["reason"] == "higher severity reported"
    assert escalated.details["old_due_date"] == "2026-05-31"
    assert escalated.details["new_due_date"] == "2026-05-11"
    [due_changed] = events(ctx, "ticket.due_changed")
    assert due_changed.details["old_due_date"] == "2026-05-31"
    assert due_changed.details["new_due_date"] == "2026-05-11"
    assert due_changed.details["reason"]
    [ticket_escalated] = events(ctx, "ticket.escalated")
    assert (ticket_escalated.from_state, ticket_escalated.to_state) == ("medium", "high")


def test_escalation_above_the_threshold_opens_the_ticket(ctx: AppContext) -> None:
    ingest_bytes(ctx, jsonl([record("exposure", severity="low")]), now=NOW)
    assert tickets(ctx) == []
    later = NOW + timedelta(days=4)  # 6 March
    summary = ingest_bytes(ctx, jsonl([record("exposure", severity="critical")]), now=later)
    assert summary.tickets_opened == 1
    [finding] = findings(ctx)
    assert finding.severity == "critical"
    assert finding.due_date == date(2026, 4, 5)  # 6 March + 30
    [ticket] = tickets(ctx)
    assert finding.ticket_id == ticket.id
    assert (ticket.severity, ticket.due_date, ticket.status) == (
        "critical",
        date(2026, 4, 5),
        "open",
    )
    assert len(events(ctx, "ticket.opened")) == 1
    assert len(events(ctx, "finding.escalated")) == 1


def test_lower_reported_severity_is_recorded_once_due_unchanged(ctx: AppContext) -> None:
    ingest_bytes(ctx, jsonl([record("rce", severity="critical")]), now=NOW)
    [ticket] = tickets(ctx)
    due = ticket.due_date
    assert due == date(2026, 4, 1)
    ingest_bytes(ctx, jsonl([record("rce", severity="medium")]), now=NOW + timedelta(days=2))
    [lowered] = events(ctx, "finding.severity_lowered")
    assert (lowered.from_state, lowered.to_state) == ("critical", "medium")
    [finding] = findings(ctx)
    assert finding.severity == "critical"
    assert finding.due_date == due
    [ticket] = tickets(ctx)
    assert (ticket.severity, ticket.due_date) == ("critical", due)
    assert events(ctx, "ticket.due_changed") == []
    # the same lower severity in the next scan is not news
    ingest_bytes(ctx, jsonl([record("rce", severity="medium")]), now=NOW + timedelta(days=9))
    assert len(events(ctx, "finding.severity_lowered")) == 1
    assert tickets(ctx)[0].due_date == due


def test_a_group_opened_in_one_batch_takes_its_earliest_due_date(ctx: AppContext) -> None:
    """Two matchers of one template on one asset share a ticket; the finding first seen earlier
    (listed second in the body, same severity) sets the due date."""
    from datetime import UTC, date, datetime

    from tests.helpers_ingest import ingest_bytes, jsonl, record, tickets

    body = jsonl(
        [
            record("grouped", severity="high", matcher="later", timestamp="2026-03-02T09:00:00Z"),
            record("grouped", severity="high", matcher="earlier", timestamp="2026-02-20T09:00:00Z"),
        ]
    )
    ingest_bytes(ctx, body, now=datetime(2026, 3, 2, 10, 0, tzinfo=UTC))
    (ticket,) = tickets(ctx)
    assert ticket.due_date == date(2026, 4, 21)  # 2026-02-20 + 60 days (high)


def test_a_regression_whose_cve_entered_kev_meanwhile_reopens_escalated(
    ctx: AppContext,
) -> None:
    """Resolved while its CVE was not known exploited; the catalog then lists the CVE (which
    reaches open findings only); the finding comes back: the ticket reopens as critical/KEV,
    due within the KEV window from the reappearance rather than on the old high schedule."""
    from bot.database.core import transaction
    from bot.kev.flows import load_catalog
    from integrations.kev import load_catalog_file
    from tests.conftest import DATA

    cve = "CVE-2026-20001"  # in tests/data/kev/removal_before_2026.02.01.json
    ingest_bytes(ctx, jsonl([record("rce", severity="high", cves=[cve])]), now=NOW)
    [ticket] = tickets(ctx)
    set_ticket_status(ctx, ticket.id, "resolved", at=NOW + timedelta(days=2))
    with transaction(ctx.sessions) as session:
        load_catalog(
            ctx,
            session,
            load_catalog_file(DATA / "kev" / "removal_before_2026.02.01.json"),
            now=NOW + timedelta(days=3),
        )
    [finding] = findings(ctx)
    assert (finding.severity, finding.kev) == ("high", False)  # resolved: left alone

    back = NOW + timedelta(days=10)
    summary = ingest_bytes(ctx, jsonl([record("rce", severity="high", cves=[cve])]), now=back)
    assert (summary.reopened, summary.duplicate) == (1, 0)
    [finding] = findings(ctx)
    assert (finding.status, finding.severity, finding.kev) == ("open", "critical", True)
    # restarted at the reappearance: high would be +60 days; KEV gives +30
    assert finding.due_date == (back + timedelta(days=30)).date()
    [ticket] = tickets(ctx)
    assert (ticket.status, ticket.severity, ticket.kev) == ("open", "critical", True)
    assert ticket.due_date == finding.due_date
    assert kinds(ctx)[-5:] == [
        "ticket.reopened",
        "finding.escalated",
        "ticket.due_changed",
        "ticket.escalated",
        "scan.ingested",
    ]
    [escalated] = events(ctx, "finding.escalated")
    assert escalated.details["reason"] == "kev"
