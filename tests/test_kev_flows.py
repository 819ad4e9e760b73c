"""Issue 4: a new KEV catalog reaches open findings and tickets; the feed refresh flow."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from bot.context import AppContext
from bot.database.core import transaction
from bot.kev.flows import CatalogUpdate, load_catalog, refresh_feed
from bot.kev.service import current_catalog
from bot.metrics import REGISTRY
from integrations.kev import KevCatalog, KevFeedError, load_catalog_file
from tests.conftest import DATA, corpus_dir
from tests.helpers_ingest import (
    counts,
    events,
    findings,
    ingest_bytes,
    jobs,
    jsonl,
    record,
    tickets,
)

OLD = "known_exploited_vulnerabilities_2026.05.08.json"
NEW = "known_exploited_vulnerabilities_2026.08.07.json"
DIFF = "catalog_diff_2026.05.08_to_2026.08.07.json"


def load(ctx: AppContext, catalog: KevCatalog, now: datetime) -> CatalogUpdate:
    with transaction(ctx.sessions) as session:
        return load_catalog(ctx, session, catalog, now=now)


def current_version(ctx: AppContext) -> str | None:
    with ctx.sessions() as session:
        row = current_catalog(session)
        return None if row is None else row.catalog_version


def kev_due(due: date | None, first_seen: datetime, escalated_at: datetime) -> date:
    """The contract: min(current due, max(first_seen, escalated_at) + 30 days)."""
    proposed = max(first_seen, escalated_at).date() + timedelta(days=30)
    return proposed if due is None else min(due, proposed)


# -- real catalogs ----------------------------------------------------------------------------


@pytest.fixture
def real_catalogs() -> tuple[KevCatalog, KevCatalog, list[str]]:
    folder = corpus_dir("kev")
    diff = json.loads((folder / DIFF).read_text())
    return load_catalog_file(folder / OLD), load_catalog_file(folder / NEW), diff["added"]


def test_newer_catalog_escalates_exactly_the_added_cves(
    ctx: AppContext, real_catalogs: tuple[KevCatalog, KevCatalog, list[str]]
) -> None:
    old, new, added = real_catalogs
    assert len(added) == 72
    old_ids, new_ids = old.cve_ids(), new.cve_ids()
    picks = {
        "CVE-2026-42897": "medium",  # added
        "CVE-2008-4250": "high",  # added
        "CVE-2022-0492": "info",  # added, below the ticket threshold
        "CVE-2026-0257": "critical",  # added, already critical
        "CVE-2021-44228": "high",  # in both catalogs: escalates at ingest
        "CVE-2018-15473": "medium",  # in neither
    }
    for cve in ("CVE-2026-42897", "CVE-2008-4250", "CVE-2022-0492", "CVE-2026-0257"):
        assert cve in added and cve not in old_ids and cve in new_ids
    assert "CVE-2021-44228" in old_ids and "CVE-2021-44228" in new_ids
    assert "CVE-2018-15473" not in new_ids

    t_load_old = datetime(2026, 5, 9, 8, 0, tzinfo=UTC)
    result = load(ctx, old, t_load_old)
    assert (result.stored, result.current, result.added) == (True, True, 1590)
    assert result.escalated_findings == 0

    t_ingest = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
    body = jsonl(
        record(f"{cve.lower()}-check", severity=sev, cves=[cve], matched_at=f"https://{i}.ex.com/")
        for i, (cve, sev) in enumerate(picks.items())
    )
    summary = ingest_bytes(ctx, body, now=t_ingest)
    assert (summary.findings, summary.new, summary.escalated_kev) == (6, 6, 1)
    # medium, high, critical, high->critical (KEV) and medium open tickets; info does not
    assert summary.tickets_opened == 5
    by_cve = {f.cve_ids[0]: f for f in findings(ctx)}
    log4j = by_cve["CVE-2021-44228"]
    assert (log4j.severity, log4j.reported_severity, log4j.kev) == ("critical", "high", True)
    assert log4j.due_date == date(2026, 6, 9)  # 10 May + 30
    [at_ingest] = events(ctx, "finding.escalated")
    assert at_ingest.finding_id == log4j.id and at_ingest.details["reason"] == "kev"
    assert at_ingest.details["catalog_version"] == "2026.05.08"

    dues_before = {cve: f.due_date for cve, f in by_cve.items()}
    assert dues_before["CVE-2026-42897"] == date(2026, 8, 8)  # 10 May + 90
    assert dues_before["CVE-2008-4250"] == date(2026, 7, 9)  # 10 May + 60
    assert dues_before["CVE-2022-0492"] is None
    assert dues_before["CVE-2026-0257"] == date(2026, 6, 9)  # 10 May + 30
    tickets_before = {t.id: t for t in tickets(ctx)}
    ticket_of = {cve: f.ticket_id or 0 for cve, f in by_cve.items()}
    before = counts(ctx)
    events_before = len(events(ctx))

    t_load_new = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    result = load(ctx, new, t_load_new)
    assert (result.stored, result.current) == (True, True)
    assert (result.added, result.removed) == (72, 0)
    assert result.escalated_findings == 4
    assert result.tickets_opened == 1

    expected_due = {
        cve: kev_due(dues_before[cve], t_ingest, t_load_new)
        for cve in ("CVE-2026-42897", "CVE-2008-4250", "CVE-2022-0492", "CVE-2026-0257")
    }
    assert expected_due == {
        "CVE-2026-42897": date(2026, 7, 1),  # min(8 Aug, 1 Jun + 30)
        "CVE-2008-4250": date(2026, 7, 1),  # min(9 Jul, 1 Jul)
        "CVE-2022-0492": date(2026, 7, 1),  # no due before: 1 Jun + 30
        "CVE-2026-0257": date(2026, 6, 9),  # 9 Jun is already earlier
    }
    after = {f.cve_ids[0]: f for f in findings(ctx)}
    for cve, due in expected_due.items():
        f = after[cve]
        assert (f.severity, f.kev, f.due_date) == ("critical", True, due), cve
        assert f.kev_catalog_version == "2026.08.07"
        assert f.escalated_at == t_load_new
    # untouched: the one escalated at ingest, and the one in neither catalog
    assert after["CVE-2021-44228"].due_date == date(2026, 6, 9)
    assert after["CVE-2021-44228"].kev_catalog_version == "2026.05.08"
    assert (after["CVE-2018-15473"].severity, after["CVE-2018-15473"].kev) == ("medium", False)
    assert after["CVE-2018-15473"].due_date == dues_before["CVE-2018-15473"]

    # the info finding now has a ticket of its own
    info_ticket_id = after["CVE-2022-0492"].ticket_id
    assert info_ticket_id is not None and info_ticket_id not in tickets_before
    now_tickets = {t.id: t for t in tickets(ctx)}
    assert (now_tickets[info_ticket_id].severity, now_tickets[info_ticket_id].due_date) == (
        "critical",
        date(2026, 7, 1),
    )
    for cve in ("CVE-2026-42897", "CVE-2008-4250", "CVE-2026-0257"):
        t = now_tickets[ticket_of[cve]]
        assert (t.severity, t.kev, t.due_date) == ("critical", True, expected_due[cve])

    new_events = events(ctx)[events_before:]
    escalated = [e for e in new_events if e.kind == "finding.escalated"]
    assert {e.finding_id for e in escalated} == {after[c].id for c in expected_due}
    assert all(e.details["reason"] == "kev" for e in escalated)
    due_changed = {e.ticket_id: e for e in new_events if e.kind == "ticket.due_changed"}
    assert set(due_changed) == {ticket_of["CVE-2026-42897"], ticket_of["CVE-2008-4250"]}
    for cve in ("CVE-2026-42897", "CVE-2008-4250"):
        e = due_changed[ticket_of[cve]]
        assert e.details["old_due_date"] == str(dues_before[cve])
        assert e.details["new_due_date"] == expected_due[cve].isoformat()
        assert e.details["reason"] == "kev"
    assert [e.ticket_id for e in new_events if e.kind == "ticket.opened"] == [info_ticket_id]
    assert [e.details["catalog_version"] for e in new_events if e.kind == "kev.catalog_loaded"] == [
        "2026.08.07"
    ]

    notify = [j for j in jobs(ctx) if j.kind == "notify.ticket"]
    affected = {ticket_of[c] for c in ("CVE-2026-42897", "CVE-2008-4250", "CVE-2026-0257")}
    assert sorted(j.payload["ticket_id"] for j in notify) == sorted(affected)
    assert counts(ctx)["tickets"] == before["tickets"] + 1

    # reloading the same file changes nothing
    snapshot = counts(ctx)
    again = load(ctx, load_catalog_file(corpus_dir("kev") / NEW), t_load_new + timedelta(days=1))
    assert (again.stored, again.current, again.escalated_findings) == (False, False, 0)
    assert counts(ctx) == snapshot
    assert current_version(ctx) == "2026.08.07"


def test_older_catalog_after_newer_is_stored_but_not_current(
    ctx: AppContext, real_catalogs: tuple[KevCatalog, KevCatalog, list[str]]
) -> None:
    old, new, added = real_catalogs
    load(ctx, new, datetime(2026, 8, 8, tzinfo=UTC))
    ingest_bytes(
        ctx,
        jsonl([record("x", severity="medium", cves=[added[0]])]),
        now=datetime(2026, 8, 9, tzinfo=UTC),
    )
    before = counts(ctx)
    events_before = len(events(ctx))
    result = load(ctx, old, datetime(2026, 8, 10, tzinfo=UTC))
    assert (result.stored, result.current, result.escalated_findings) == (True, False, 0)
    assert result.delisted_findings == 0
    assert current_version(ctx) == "2026.08.07"
    after = counts(ctx)
    assert after["kev_catalogs"] == before["kev_catalogs"] + 1
    assert {k: v for k, v in after.items() if k != "kev_catalogs"} == {
        k: v for k, v in before.items() if k != "kev_catalogs"
    }
    assert len(events(ctx)) == events_before
    assert findings(ctx)[0].kev_delisted is False


def test_full_catalog_load_timing(
    ctx: AppContext, real_catalogs: tuple[KevCatalog, KevCatalog, list[str]]
) -> None:
    """Performance sanity (not an assertion on time): printed for the report."""
    _, new, _ = real_catalogs
    started = time.perf_counter()
    result = load(ctx, new, datetime(2026, 8, 8, tzinfo=UTC))
    elapsed = time.perf_counter() - started
    assert result.added == 1662
    print(f"\nload_catalog of the full KEV catalog ({new.count} entries): {elapsed:.3f} s")


# -- removal ----------------------------------------------------------------------------------


def test_cve_removed_from_kev_is_flagged_and_keeps_its_due(ctx: AppContext) -> None:
    before_cat = load_catalog_file(DATA / "kev" / "removal_before_2026.02.01.json")
    after_cat = load_catalog_file(DATA / "kev" / "removal_after_2026.03.10.json")
    load(ctx, before_cat, datetime(2026, 2, 2, tzinfo=UTC))
    t_ingest = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
    summary = ingest_bytes(
        ctx,
        jsonl(
            [
                record("portal-rce", severity="medium", cves=["CVE-2025-20002"]),
                record("router-rce", severity="high", cves=["CVE-2026-20001"]),
            ]
        ),
        now=t_ingest,
    )
    assert summary.escalated_kev == 2
    portal = next(f for f in findings(ctx) if f.template_id == "portal-rce")
    assert (portal.severity, portal.due_date) == ("critical", date(2026, 3, 5))  # 3 Feb + 30
    ticket_before = next(t for t in tickets(ctx) if t.id == portal.ticket_id)

    result = load(ctx, after_cat, datetime(2026, 3, 11, tzinfo=UTC))
    assert (result.removed, result.delisted_findings) == (1, 1)
    by_template = {f.template_id: f for f in findings(ctx)}
    portal = by_template["portal-rce"]
    assert portal.kev_delisted is True
    assert (portal.severity, portal.kev, portal.due_date) == ("critical", True, date(2026, 3, 5))
    assert by_template["router-rce"].kev_delisted is False
    [delisted] = events(ctx, "finding.kev_delisted")
    assert delisted.finding_id == portal.id
    assert delisted.details["cve_ids"] == ["CVE-2025-20002"]
    assert delisted.details["catalog_version"] == "2026.03.10"
    ticket_after = next(t for t in tickets(ctx) if t.id == portal.ticket_id)
    assert (ticket_after.severity, ticket_after.due_date, ticket_after.status) == (
        ticket_before.severity,
        ticket_before.due_date,
        "open",
    )
    assert events(ctx, "ticket.due_changed") == []


# -- feed refresh -----------------------------------------------------------------------------

FEED_URL = "https://kev.test/known_exploited_vulnerabilities.json"
SMALL = (DATA / "kev" / "small_catalog.json").read_bytes()


def feed_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def failures() -> float:
    return REGISTRY.get_sample_value("slabot_kev_feed_failures_total") or 0.0


@pytest.fixture
def feed_ctx(ctx: AppContext) -> AppContext:
    from tests.helpers_ingest import with_settings

    return with_settings(ctx, kev_url=FEED_URL, kev_mirror_url=None, kev_file=None)


def _raise_timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("timed out", request=request)


BAD_RESPONSES: dict[str, Callable[[httpx.Request], httpx.Response]] = {
    "html-403": lambda r: httpx.Response(
        403,
        content=(DATA / "kev" / "akamai_access_denied.html").read_bytes(),
        headers={"Content-Type": "text/html"},
    ),
    "truncated-json": lambda r: httpx.Response(
        200, content=SMALL[: len(SMALL) // 2], headers={"Content-Type": "application/json"}
    ),
    "schema-violation": lambda r: httpx.Response(
        200,
        content=(DATA / "kev" / "schema_violation.json").read_bytes(),
        headers={"Content-Type": "application/json"},
    ),
    "timeout": _raise_timeout,
}


@pytest.mark.parametrize("case", sorted(BAD_RESPONSES))
def test_feed_failure_keeps_the_last_good_catalog(
    feed_ctx: AppContext, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    now = datetime(2026, 1, 16, 6, 0, tzinfo=UTC)
    good = feed_client(lambda r: httpx.Response(200, content=SMALL, headers={"ETag": '"v1"'}))
    assert "2026.01.15" in refresh_feed(feed_ctx, now=now, client=good)
    before = counts(feed_ctx)
    failed_before = failures()
    with caplog.at_level(logging.ERROR, logger="bot.kev.flows"), pytest.raises(KevFeedError):
        refresh_feed(feed_ctx, now=now + timedelta(days=1), client=feed_client(BAD_RESPONSES[case]))
    assert failures() == failed_before + 1
    assert current_version(feed_ctx) == "2026.01.15"
    assert counts(feed_ctx) == before
    [line] = [r for r in caplog.records if r.name == "bot.kev.flows"]
    assert "KEV feed refresh failed" in line.getMessage()
    assert "keeping the last good catalog" in line.getMessage()
    assert FEED_URL in line.getMessage()


def test_feed_304_is_not_modified(feed_ctx: AppContext) -> None:
    now = datetime(2026, 1, 16, 6, 0, tzinfo=UTC)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("If-None-Match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, content=SMALL, headers={"ETag": '"v1"'})

    client = feed_client(handler)
    refresh_feed(feed_ctx, now=now, client=client)
    before = counts(feed_ctx)
    message = refresh_feed(feed_ctx, now=now + timedelta(days=1), client=client)
    assert "not_modified" in message
    assert counts(feed_ctx) == before
    assert seen[-1].headers["If-None-Match"] == '"v1"'


def test_feed_good_body_is_loaded(feed_ctx: AppContext, tmp_path: Path) -> None:
    now = datetime(2026, 1, 16, 6, 0, tzinfo=UTC)
    ingest_bytes(feed_ctx, jsonl([record("gw", severity="low", cves=["CVE-2026-10001"])]), now=now)
    client = feed_client(lambda r: httpx.Response(200, content=SMALL))
    message = refresh_feed(feed_ctx, now=now + timedelta(hours=1), client=client)
    assert "2026.01.15" in message and "+3" in message
    assert current_version(feed_ctx) == "2026.01.15"
    [finding] = findings(feed_ctx)
    assert (finding.severity, finding.kev) == ("critical", True)
    assert finding.ticket_id is not None  # low -> critical opens a ticket
