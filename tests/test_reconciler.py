"""The reconciler (``tracker.reconcile``): transitions whose webhook was lost are recorded from
the tracker's own state, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest

from bot.acceptances.models import RiskAcceptance
from bot.clock.schedule import tick
from bot.context import AppContext
from bot.database.core import transaction
from bot.events.models import Event
from bot.registry import job_handlers, schedulers
from bot.tickets.models import Ticket
from bot.trackers.reconcile import reconcile
from tests.fakes.jira import FakeJira
from tests.fakes.linear import FakeLinear
from tests.helpers_ingest import ingest_bytes, jsonl, record
from tests.helpers_trackers import (
    T0,
    all_tickets,
    events,
    jira_ctx,
    jobs,
    linear_ctx,
    open_tickets,
    run_jobs,
    ticket,
)

pytest_plugins = ["tests.fakes.fixtures"]

T1 = T0 + timedelta(hours=3, milliseconds=250)


def status_events(ctx: AppContext) -> list[Event]:
    return events(ctx, "ticket.status_changed")


def run_tick(ctx: AppContext, now: datetime) -> None:
    tick(ctx, schedulers(), job_handlers(), now=now)


@pytest.fixture(params=["UTC", "Pacific/Auckland"])
def jira_fake(request: pytest.FixtureRequest) -> Iterator[FakeJira]:
    """A Jira whose API user lives in ``param`` (JQL dates are read in that zone)."""
    with FakeJira(seed=7, time_zone=request.param) as fake:
        assert isinstance(fake, FakeJira)
        fake.clock = lambda: T0
        yield fake


def linked_jira(ctx: AppContext, fake: FakeJira) -> tuple[AppContext, Ticket, str]:
    jctx = jira_ctx(ctx, fake)
    [t] = open_tickets(jctx, 1)
    run_jobs(jctx, T0)
    t = ticket(jctx, t.id)
    assert t.external_key is not None
    return jctx, t, t.external_key


def test_lost_jira_webhook_is_recorded_once(ctx: AppContext, jira_fake: FakeJira) -> None:
    jctx, t, key = linked_jira(ctx, jira_fake)
    jira_fake.move(key, "In Progress", at=T1, user="acc-bob")  # the webhook never arrives
    run_tick(jctx, T1 + timedelta(minutes=20))
    [job] = jobs(jctx, "tracker.reconcile")
    assert job.state == "done"
    [event] = status_events(jctx)
    assert (event.source, event.at, event.to_state) == ("reconciler", T1, "in_progress")
    assert event.details["applied"] is True
    assert ticket(jctx, t.id).status == "in_progress"
    before = len(events(jctx))
    run_tick(jctx, T1 + timedelta(minutes=40))  # next 15-minute slot: another pass
    assert len(jobs(jctx, "tracker.reconcile")) == 2
    assert reconcile(jctx, now=T1 + timedelta(minutes=41)) == 0
    assert len(events(jctx)) == before


def test_reconciler_records_wont_do_as_unverified(ctx: AppContext, jira_fake: FakeJira) -> None:
    jctx, t, key = linked_jira(ctx, jira_fake)
    jira_fake.move(key, "Won't Do", at=T1)
    assert reconcile(jctx, now=T1 + timedelta(minutes=5)) == 1
    final = ticket(jctx, t.id)
    assert (final.status, final.resolved_at) == ("resolved_unverified", T1)
    assert [j.kind for j in jobs(jctx, "notify.unverified")] == ["notify.unverified"]
    assert reconcile(jctx, now=T1 + timedelta(minutes=25)) == 0
    assert len(status_events(jctx)) == 1


def test_lost_linear_webhook_is_recorded_once(ctx: AppContext, fake_linear: FakeLinear) -> None:
    fake_linear.clock = lambda: T0
    lctx = linear_ctx(ctx, fake_linear)
    [t] = open_tickets(lctx, 1)
    run_jobs(lctx, T0)
    fake_linear.move(ticket(lctx, t.id).external_id or "", "In Review", at=T1)
    assert reconcile(lctx, now=T1 + timedelta(minutes=5)) == 1
    [event] = status_events(lctx)
    assert (event.source, event.at, event.to_state) == ("reconciler", T1, "in_progress")
    assert event.details["status_name"] == "In Review"
    assert reconcile(lctx, now=T1 + timedelta(minutes=20)) == 0
    assert len(status_events(lctx)) == 1


def test_older_remote_state_is_not_recorded_again_and_again(
    ctx: AppContext, jira_fake: FakeJira
) -> None:
    """slabot reopened the ticket (finding seen again) but the reopen job has not reached Jira
    yet: the remote "Done" is older than slabot's state, so it is not news."""
    jctx, t, key = linked_jira(ctx, jira_fake)
    jira_fake.move(key, "Done", at=T1)
    assert reconcile(jctx, now=T1 + timedelta(minutes=5)) == 1
    assert ticket(jctx, t.id).status == "resolved"
    seen_again = T1 + timedelta(days=1)
    ingest_bytes(
        jctx, jsonl([record("tpl-0", severity="medium", matched_at="https://h0.example.com/")]),
        now=seen_again,
    )  # fmt: skip
    assert ticket(jctx, t.id).status == "open"
    before = len(events(jctx))
    for minutes in (5, 20, 35):
        assert reconcile(jctx, now=seen_again + timedelta(minutes=minutes)) == 0
    assert len(events(jctx)) == before
    run_jobs(jctx, seen_again + timedelta(hours=1))  # the reopen reaches Jira
    assert jira_fake.issue(key)["status"] == "To Do"
    assert reconcile(jctx, now=seen_again + timedelta(hours=1, minutes=5)) == 0
    assert ticket(jctx, t.id).status == "open"


def test_risk_accepted_ticket_follows_only_a_remote_resolution(
    ctx: AppContext, jira_fake: FakeJira
) -> None:
    jctx, t, key = linked_jira(ctx, jira_fake)
    accepted_at = T0 + timedelta(hours=1)
    with transaction(jctx.sessions) as session:
        session.add(
            RiskAcceptance(
                ticket_id=t.id, status="approved", requested_by="UENG", requested_at=T0,
                justification="WAF", expires_on=date(2026, 5, 1), decided_by="ULEAD1",
                decided_at=accepted_at,
            )
        )  # fmt: skip
        row = session.get(Ticket, t.id)
        assert row is not None
        row.status, row.status_changed_at = "risk_accepted", accepted_at
    jira_fake.clock = lambda: T1  # the acceptance comment bumps the issue's updated time
    jira_fake.comments.setdefault(key, [])
    jira_fake.issue(key)["updated"] = T1
    assert reconcile(jctx, now=T1 + timedelta(minutes=5)) == 0
    assert ticket(jctx, t.id).status == "risk_accepted"
    jira_fake.move(key, "Won't Do", at=T1 + timedelta(hours=1))
    assert reconcile(jctx, now=T1 + timedelta(hours=1, minutes=5)) == 1
    assert ticket(jctx, t.id).status == "resolved"  # approved exception: not "unverified"
    assert jobs(jctx, "notify.unverified") == []


def test_reconciler_ignores_foreign_issues_and_survives_a_flaky_search(
    ctx: AppContext, jira_fake: FakeJira
) -> None:
    jctx, t, key = linked_jira(ctx, jira_fake)
    jira_fake.issues["SEC-99"] = {**jira_fake.issue(key), "id": "99999", "key": "SEC-99"}
    jira_fake.move("SEC-99", "Done", at=T1)
    jira_fake.move(key, "In Progress", at=T1)
    jira_fake.fail_next(status=503, retry_after=30, match="search/jql")
    now = T1 + timedelta(minutes=5)
    run_tick(jctx, now)
    [job] = jobs(jctx, "tracker.reconcile")
    assert job.state == "queued" and job.run_after >= now + timedelta(seconds=30)
    run_jobs(jctx, job.run_after)
    assert [e.ticket_id for e in status_events(jctx)] == [t.id]
    assert [x.status for x in all_tickets(jctx)] == ["in_progress"]
