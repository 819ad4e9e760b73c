"""Outbox jobs against the fake trackers: exactly-once create under failures, retries,
update / reopen / comment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from bot.context import AppContext
from bot.database.core import transaction
from integrations.trackers import idempotency_label, linear_issue_uuid
from tests.fakes.jira import FakeJira
from tests.fakes.linear import FakeLinear
from tests.helpers_trackers import (
    T0,
    all_tickets,
    allow_attempts,
    drive,
    events,
    jira_ctx,
    jobs,
    linear_ctx,
    open_tickets,
    run_jobs,
)
from tests.helpers_trackers import ticket as ticket_of

pytest_plugins = ["tests.fakes.fixtures"]

MANY = 200


def _assert_linked_once_jira(ctx: AppContext, fake: FakeJira, n: int) -> None:
    tickets = all_tickets(ctx)
    assert len(tickets) == n
    assert len(fake.issues) == n, "duplicate or missing remote issues"
    by_id = {rec["id"]: rec for rec in fake.issues.values()}
    assert len({t.external_id for t in tickets}) == n
    for t in tickets:
        rec = by_id[t.external_id or ""]
        assert idempotency_label(t.id) in rec["labels"]
        assert t.external_key == rec["key"]
        assert t.external_url == f"{fake.url}/browse/{rec['key']}"
    labels = Counter(lab for rec in fake.issues.values() for lab in rec["labels"])
    assert all(labels[idempotency_label(t.id)] == 1 for t in tickets)
    linked_events = events(ctx, "ticket.linked")
    assert sorted(e.ticket_id or 0 for e in linked_events) == [t.id for t in tickets]


def test_jira_exactly_once_under_failures(ctx: AppContext, fake_jira: FakeJira) -> None:
    jctx = jira_ctx(ctx, fake_jira)
    open_tickets(jctx, MANY)
    allow_attempts(jctx, 30)
    fake_jira.failure_rate, fake_jira.lose_reply_rate = 0.3, 0.1
    drive(jctx, T0, rounds=60)
    assert {j.state for j in jobs(jctx, "tracker.create")} == {"done"}
    _assert_linked_once_jira(jctx, fake_jira, MANY)
    lost = [label for kind, label in fake_jira.injected if kind == "lose"]
    assert any("POST /rest/api/3/issue" in label for label in lost), "no lost create reply"
    found = [e for e in events(jctx, "ticket.linked") if e.details["found_existing"]]
    assert found, "a lost reply should have been recovered by the label search"


def test_linear_exactly_once_under_failures(ctx: AppContext, fake_linear: FakeLinear) -> None:
    lctx = linear_ctx(ctx, fake_linear)
    open_tickets(lctx, MANY)
    allow_attempts(lctx, 30)
    fake_linear.failure_rate, fake_linear.lose_reply_rate = 0.3, 0.1
    drive(lctx, T0, rounds=60)
    assert {j.state for j in jobs(lctx, "tracker.create")} == {"done"}
    tickets = all_tickets(lctx)
    assert len(fake_linear.issues) == MANY
    assert sorted(fake_linear.issues) == sorted(linear_issue_uuid(t.id) for t in tickets)
    for t in tickets:
        assert t.external_id == linear_issue_uuid(t.id)
        assert t.external_key == fake_linear.issues[t.external_id]["identifier"]
    assert len(events(lctx, "ticket.linked")) == MANY
    assert any(kind == "lose" and "Create" in label for kind, label in fake_linear.injected)


def test_jira_429_retry_after_is_a_floor(ctx: AppContext, fake_jira: FakeJira) -> None:
    jctx = jira_ctx(ctx, fake_jira)
    [t] = open_tickets(jctx, 1)
    fake_jira.fail_next(status=429, retry_after=900, match="POST /rest/api/3/issue")
    assert run_jobs(jctx, T0) == 1
    [job] = jobs(jctx, "tracker.create")
    assert job.state == "queued" and "429" in (job.last_error or "")
    assert job.run_after >= T0 + timedelta(seconds=900)
    assert run_jobs(jctx, T0 + timedelta(seconds=899)) == 0
    assert fake_jira.issues == {}
    assert run_jobs(jctx, job.run_after) == 1
    assert len(fake_jira.issues) == 1
    assert ticket_of(jctx, t.id).external_key == "SEC-1"


def test_linear_ratelimited_400_waits_for_reset(ctx: AppContext, fake_linear: FakeLinear) -> None:
    lctx = linear_ctx(ctx, fake_linear)
    open_tickets(lctx, 1)
    fake_linear.ratelimit_next(http_status=400, reset_in_ms=120_000, match="SlabotIssueCreate")
    run_jobs(lctx, T0)
    [job] = jobs(lctx, "tracker.create")
    assert job.state == "queued" and "rate limited" in (job.last_error or "")
    assert job.run_after >= T0 + timedelta(seconds=110)
    assert run_jobs(lctx, T0 + timedelta(seconds=100)) == 0
    run_jobs(lctx, job.run_after)
    assert len(fake_linear.issues) == 1


def test_jira_400_goes_dead_with_the_reason(ctx: AppContext, fake_jira: FakeJira) -> None:
    jctx = jira_ctx(ctx, fake_jira)
    open_tickets(jctx, 1)
    fake_jira.fail_next(
        status=400,
        match="POST /rest/api/3/issue",
        body={
            "errorMessages": [],
            "errors": {"customfield_1": "Field 'customfield_1' cannot be set"},
        },
    )
    run_jobs(jctx, T0)
    [job] = jobs(jctx, "tracker.create")
    assert job.state == "dead" and job.attempts == 1
    assert "HTTP 400" in (job.last_error or "") and "customfield_1" in (job.last_error or "")
    assert fake_jira.issues == {}
    assert all_tickets(jctx)[0].external_id is None


def test_linear_invalid_input_goes_dead(ctx: AppContext, fake_linear: FakeLinear) -> None:
    lctx = linear_ctx(ctx, fake_linear)
    open_tickets(lctx, 1)
    body = {
        "errors": [
            {
                "message": "Argument Validation Error",
                "extensions": {"code": "INVALID_INPUT", "userPresentableMessage": "bad title"},
            }
        ],
        "data": None,
    }
    fake_linear.fail_next(status=400, match="SlabotIssueCreate", body=body)
    run_jobs(lctx, T0)
    [job] = jobs(lctx, "tracker.create")
    assert job.state == "dead"
    assert "INVALID_INPUT" in (job.last_error or "") and "bad title" in (job.last_error or "")
    assert fake_linear.issues == {}


# -- update / reopen / comment ------------------------------------------------------------------


def _linked_jira(ctx: AppContext, fake: FakeJira, **kw: object) -> tuple[AppContext, int, str]:
    jctx = jira_ctx(ctx, fake)
    [t] = open_tickets(jctx, 1, **kw)  # type: ignore[arg-type]
    run_jobs(jctx, T0)
    key = all_tickets(jctx)[0].external_key
    assert key is not None
    return jctx, t.id, key


def test_kev_escalation_updates_the_jira_issue(ctx: AppContext, fake_jira: FakeJira) -> None:
    from bot.kev.flows import load_catalog
    from integrations.kev import load_catalog_file
    from tests.conftest import DATA
    from tests.helpers_ingest import ingest_bytes, jsonl, record

    jctx = jira_ctx(ctx, fake_jira)
    ingest_bytes(
        jctx, jsonl([record("portal", severity="medium", cves=["CVE-2025-20002"])]), now=T0
    )
    run_jobs(jctx, T0)
    [issue] = fake_jira.issues.values()
    assert (issue["priority"], issue["duedate"]) == ("Medium", "2026-05-31")
    later = T0 + timedelta(days=3)
    catalog = load_catalog_file(DATA / "kev" / "removal_before_2026.02.01.json")
    with transaction(jctx.sessions) as session:
        load_catalog(jctx, session, catalog, now=later)
    assert len(jobs(jctx, "tracker.update")) == 1
    run_jobs(jctx, later)
    assert [j.state for j in jobs(jctx, "tracker.update")] == ["done"]
    issue = fake_jira.issue("SEC-1")
    assert issue["priority"] == "Highest"
    assert issue["duedate"] == (later.date() + timedelta(days=30)).isoformat()
    assert "critical" in issue["labels"] and "medium" not in issue["labels"]


def test_higher_severity_rescan_tightens_linear_due(
    ctx: AppContext, fake_linear: FakeLinear
) -> None:
    from tests.helpers_ingest import ingest_bytes, jsonl, record

    lctx = linear_ctx(ctx, fake_linear)
    ingest_bytes(lctx, jsonl([record("xss", severity="medium")]), now=T0)
    run_jobs(lctx, T0)
    [issue] = fake_linear.issues.values()
    assert (issue["priority"], issue["dueDate"]) == (3, "2026-05-31")
    later = T0 + timedelta(days=10)
    ingest_bytes(lctx, jsonl([record("xss", severity="critical")]), now=later)
    assert [j.kind for j in jobs(lctx, "tracker.update")] == ["tracker.update"]
    run_jobs(lctx, later)
    assert issue["priority"] == 1
    assert issue["dueDate"] == (later.date() + timedelta(days=30)).isoformat()


def test_reappearing_finding_reopens_the_jira_issue(ctx: AppContext, fake_jira: FakeJira) -> None:
    from fastapi.testclient import TestClient

    from bot.web.app import create_app
    from tests.helpers_ingest import ingest_bytes, jsonl, record

    jctx, tid, key = _linked_jira(ctx, fake_jira)
    done_at = T0 + timedelta(days=2)
    body = fake_jira.move(key, "Done", at=done_at)
    raw = json.dumps(body).encode()
    with TestClient(create_app(jctx)) as client:
        reply = client.post("/webhooks/jira", content=raw, headers=fake_jira.webhook_headers(raw))
    assert reply.status_code == 200, reply.text
    assert all_tickets(jctx)[0].status == "resolved"
    again = T0 + timedelta(days=9)
    summary = ingest_bytes(jctx, jsonl([record("tpl-0", matched_at="https://h0.example.com/",
                                              severity="medium")]), now=again)  # fmt: skip
    assert summary.reopened == 1
    assert len(jobs(jctx, "tracker.reopen")) == 1
    run_jobs(jctx, again)
    assert [j.state for j in jobs(jctx, "tracker.reopen")] == ["done"]
    issue = fake_jira.issue(key)
    assert issue["status"] == "To Do" and issue["resolution"] is None
    [comment] = fake_jira.comments[key]
    assert "seen again" in json.dumps(comment["body"])
    assert issue["duedate"] == (again.date() + timedelta(days=90)).isoformat()
    assert ticket_of(jctx, tid).status == "open"


def test_risk_acceptance_decision_comments_on_the_issue(
    ctx: AppContext, fake_linear: FakeLinear
) -> None:
    from bot.acceptances.service import decide, request_acceptance
    from bot.tickets.models import Ticket

    lctx = linear_ctx(ctx, fake_linear)
    lctx = with_approvers(lctx)
    [t] = open_tickets(lctx, 1, severity="high")
    run_jobs(lctx, T0)
    with transaction(lctx.sessions) as session:
        ticket = session.get(Ticket, t.id)
        assert ticket is not None
        request = request_acceptance(
            lctx,
            session,
            ticket=ticket,
            user_id="UENG1",
            user_name="eng",
            justification="WAF rule blocks the payload; vendor patch due next quarter",
            expires_on=date(2026, 4, 1),
            controls="WAF",
            now=T0,
        )
        decide(
            lctx,
            session,
            request_id=request.id,
            decision="approved",
            user_id="ULEAD1",
            user_name="lead",
            now=T0 + timedelta(hours=1),
        )
    run_jobs(lctx, T0 + timedelta(hours=1))
    [comment_job] = jobs(lctx, "tracker.comment")
    assert comment_job.state == "done"
    [comment] = fake_linear.comments
    assert comment["issueId"] == linear_issue_uuid(t.id)
    assert "approved by lead" in comment["body"] and "expires 2026-04-01" in comment["body"]


def with_approvers(ctx: AppContext) -> AppContext:
    import dataclasses

    settings = ctx.settings.model_copy(update={"slack_approvers": "ULEAD1,ULEAD2"})
    new = dataclasses.replace(ctx, settings=settings, services={})
    return new


@pytest.mark.parametrize("kind", ["tracker.update", "tracker.comment", "tracker.reopen"])
def test_follow_up_waits_for_the_create(ctx: AppContext, fake_jira: FakeJira, kind: str) -> None:
    from bot.jobs.service import enqueue

    jctx = jira_ctx(ctx, fake_jira)
    [t] = open_tickets(jctx, 1)
    fake_jira.fail_next(3, status=503, retry_after=1)
    with transaction(jctx.sessions) as session:
        enqueue(session, kind=kind, key=f"{kind}:x", now=T0, payload={"ticket_id": t.id,
                                                                     "text": "hello"})  # fmt: skip
    drive(jctx, T0, use_tick=False)
    assert {j.state for j in jobs(jctx)} == {"done"}
    assert len(fake_jira.issues) == 1


def test_dead_create_after_remote_create_links_on_operator_retry(
    ctx: AppContext, fake_jira: FakeJira
) -> None:
    from bot.jobs.service import retry_dead

    jctx = jira_ctx(ctx, fake_jira)
    [t] = open_tickets(jctx, 1)
    allow_attempts(jctx, 1)
    fake_jira.lose_next(match="POST /rest/api/3/issue")  # created remotely, reply lost
    run_jobs(jctx, T0)
    [job] = jobs(jctx, "tracker.create")
    assert job.state == "dead" and len(fake_jira.issues) == 1
    with transaction(jctx.sessions) as session:
        assert retry_dead(session, job_id=job.id, now=T0)
    run_jobs(jctx, T0)
    assert len(fake_jira.issues) == 1
    [issue] = fake_jira.issues.values()
    assert all_tickets(jctx)[0].external_id == issue["id"]
    [linked] = events(jctx, "ticket.linked")
    assert linked.details["found_existing"] is True and linked.ticket_id == t.id


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_sigkilled_worker_leaves_no_duplicate(
    ctx: AppContext, fake_jira: FakeJira, database_url: str, tmp_path: Path
) -> None:
    n, lease = 30, 5
    jctx = jira_ctx(ctx, fake_jira)
    started = datetime.now(UTC)
    open_tickets(jctx, n, now=started - timedelta(seconds=1))
    env = {
        **os.environ,
        "SLABOT_DATABASE_URL": database_url,
        "SLABOT_EVIDENCE_URL": jctx.settings.evidence_url,
        "SLABOT_KEV_FILE": str(jctx.settings.kev_file),
        "SLABOT_TRACKER": "jira",
        "SLABOT_JIRA_URL": fake_jira.url,
        "SLABOT_JIRA_EMAIL": fake_jira.email,
        "SLABOT_JIRA_API_TOKEN": fake_jira.api_token,
        "SLABOT_JIRA_PROJECT": fake_jira.project_key,
        "SLABOT_JIRA_WEBHOOK_SECRET": fake_jira.webhook_secret,
        "SLABOT_JOB_LEASE_SECONDS": str(lease),
        "SLABOT_WORKER_POLL_SECONDS": "0.1",
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-c", "from bot.cli.app import main; main()", "worker"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(lambda: len(fake_jira.issues) >= 4, "the worker to create 4 issues")
        fake_jira.hang_next(seconds=1.5, match="POST /rest/api/3/issue")
        _wait_for(lambda: any(k == "hang" for k, _ in fake_jira.injected), "a stalled create")
        worker.send_signal(signal.SIGKILL)
        assert worker.wait(timeout=10) == -signal.SIGKILL
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()
    before = len(fake_jira.issues)
    # the stalled create still completes at Jira after the worker is gone
    _wait_for(lambda: len(fake_jira.issues) == before + 1, "the stalled create to land")
    assert len(fake_jira.issues) < n
    assert any(j.state == "running" for j in jobs(jctx, "tracker.create"))
    finish = datetime.now(UTC) + timedelta(seconds=lease + 1)
    run_jobs(jctx, finish)
    assert {j.state for j in jobs(jctx, "tracker.create")} == {"done"}
    _assert_linked_once_jira(jctx, fake_jira, n)
    assert any(e.details["found_existing"] for e in events(jctx, "ticket.linked"))
