"""Shared helpers for the tracker flow, webhook, reconciler and local-tracker suites."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select, update

from bot.clock.schedule import tick
from bot.context import AppContext
from bot.database.core import transaction
from bot.events.models import Event
from bot.jobs.models import Job
from bot.jobs.runner import run_due_jobs
from bot.registry import job_handlers, schedulers
from bot.tickets.models import Ticket
from tests.conftest import DATA
from tests.fakes.jira import FakeJira
from tests.fakes.linear import FakeLinear
from tests.helpers_ingest import ingest_bytes, jsonl, record

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
KEV_FILE = DATA / "kev" / "small_catalog.json"
TRACKER_KINDS = ("tracker.create", "tracker.update", "tracker.comment", "tracker.reopen")


def _with(ctx: AppContext, clock: datetime | None, **changes: Any) -> AppContext:
    settings = ctx.settings.model_copy(update={"kev_file": KEV_FILE, **changes})
    new = dataclasses.replace(ctx, settings=settings, services={})
    if clock is not None:
        moment = clock
        new.clock = lambda: moment
    return new


def jira_ctx(ctx: AppContext, fake: FakeJira, *, clock: datetime | None = None) -> AppContext:
    """``ctx`` with SLABOT_TRACKER=jira pointing at the fake (and a local KEV file)."""
    return _with(
        ctx,
        clock,
        tracker="jira",
        jira_url=fake.url,
        jira_email=fake.email,
        jira_api_token=SecretStr(fake.api_token),
        jira_project=fake.project_key,
        jira_webhook_secret=SecretStr(fake.webhook_secret),
    )


def linear_ctx(ctx: AppContext, fake: FakeLinear, *, clock: datetime | None = None) -> AppContext:
    return _with(
        ctx,
        clock,
        tracker="linear",
        linear_api_key=SecretStr(fake.api_key),
        linear_team_id=fake.team_id,
        linear_webhook_secret=SecretStr(fake.webhook_secret),
        linear_api_url=f"{fake.url}/graphql",
    )


def with_tracker(ctx: AppContext, tracker: str) -> AppContext:
    """Tickets opened through this context belong to ``tracker`` (no client is ever built)."""
    return _with(ctx, None, tracker=tracker)


def set_clock(ctx: AppContext, moment: datetime) -> None:
    ctx.clock = lambda: moment


def scan_body(n: int, *, severity: str = "medium", prefix: str = "tpl") -> bytes:
    """``n`` distinct findings (one ticket each under the default grouping)."""
    return jsonl(
        record(f"{prefix}-{i}", severity=severity, matched_at=f"https://h{i}.example.com/")
        for i in range(n)
    )


def open_tickets(ctx: AppContext, n: int, *, now: datetime = T0, **kw: Any) -> list[Ticket]:
    summary = ingest_bytes(ctx, scan_body(n, **kw), now=now)
    assert summary.tickets_opened == n
    return all_tickets(ctx)


def all_tickets(ctx: AppContext) -> list[Ticket]:
    with ctx.sessions() as session:
        return list(session.scalars(select(Ticket).order_by(Ticket.id)))


def ticket(ctx: AppContext, ticket_id: int) -> Ticket:
    with ctx.sessions() as session:
        found = session.get(Ticket, ticket_id)
    assert found is not None
    return found


def jobs(ctx: AppContext, kind: str | None = None) -> list[Job]:
    with ctx.sessions() as session:
        query = select(Job).order_by(Job.id)
        if kind is not None:
            query = query.where(Job.kind == kind)
        return list(session.scalars(query))


def pending(ctx: AppContext, kinds: Iterable[str] = TRACKER_KINDS) -> int:
    with ctx.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Job)
                .where(Job.kind.in_(list(kinds)), Job.state.in_(("queued", "running")))
            )
            or 0
        )


def events(ctx: AppContext, kind: str | None = None, ticket_id: int | None = None) -> list[Event]:
    with ctx.sessions() as session:
        query = select(Event).order_by(Event.seq)
        if kind is not None:
            query = query.where(Event.kind == kind)
        if ticket_id is not None:
            query = query.where(Event.ticket_id == ticket_id)
        return list(session.scalars(query))


def run_jobs(ctx: AppContext, now: datetime) -> int:
    return run_due_jobs(ctx, job_handlers(), now=now)


def drive(
    ctx: AppContext,
    start: datetime,
    *,
    step: timedelta = timedelta(hours=2),
    rounds: int = 30,
    use_tick: bool = True,
) -> datetime:
    """Tick (clock + worker) at ``start``, then run due jobs every ``step`` of simulated time
    until no tracker job is queued or running. Returns the last ``now``."""
    now = start
    if use_tick:
        tick(ctx, schedulers(), job_handlers(), now=now)
    else:
        run_jobs(ctx, now)
    for _ in range(rounds):
        if not pending(ctx):
            return now
        now += step
        run_jobs(ctx, now)
    assert not pending(ctx), "tracker jobs still pending after the simulated time ran out"
    return now


def allow_attempts(ctx: AppContext, attempts: int, kind: str = "tracker.create") -> None:
    """Give queued ``kind`` jobs more attempts than the queue's default (8).

    At a 30 % failure rate per call a create (search, POST, GET) fails an attempt ~69 % of the
    time, so with 8 attempts ~5 % of creates would go dead: that is about the attempt budget,
    not exactly-once, which is what the flaky-tracker tests are about.
    """
    with transaction(ctx.sessions) as session:
        session.execute(update(Job).where(Job.kind == kind).values(max_attempts=attempts))


def linked(ctx: AppContext) -> list[Ticket]:
    return [t for t in all_tickets(ctx) if t.external_id is not None]
