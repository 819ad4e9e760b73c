"""Reminder cadence end to end: the clock sweep and the ``notify.reminder`` job against the fake
Slack Web API, with time driven only through ``tick(..., now=T)``."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import date, datetime, timedelta

import pytest

from bot.context import AppContext
from bot.database.core import transaction
from bot.tickets.local import set_local_status
from bot.tickets.models import Ticket
from tests.fakes.slack import FakeSlack
from tests.helpers_ingest import events
from tests.helpers_slack import (
    SECURITY_CHANNEL,
    T0,
    TEAM_CHANNEL,
    at,
    business_days,
    get_ticket,
    header_of,
    job_rows,
    new_posts,
    open_ticket,
    posts,
    reminder_events,
    run_tick,
    slack_ctx,
    ticket_ref,
)

pytest_plugins = ["tests.fakes.slack_fixtures"]

D = date.fromisoformat


@pytest.fixture
def sctx(ctx: AppContext, fake_slack: FakeSlack) -> AppContext:
    return slack_ctx(ctx, fake_slack, security_channel=SECURITY_CHANNEL)


def test_120_days_of_cadence_critical_and_medium(sctx: AppContext, fake_slack: FakeSlack) -> None:
    crit = open_ticket(sctx, template="crit-template", severity="critical", now=T0)
    med = open_ticket(
        sctx, template="med-template", severity="medium", now=T0, asset="https://b.example.com/"
    )
    assert crit.due_date == D("2026-04-01")  # opened Monday 2026-03-02 + 30 days
    assert med.due_date == D("2026-05-31")  # + 90 days (a Sunday)

    # -- the cadence, written out --------------------------------------------------------
    crit_thread = [
        D("2026-03-02"),  # the open message (parent)
        *[D("2026-03-09"), D("2026-03-16"), D("2026-03-23")],  # weekly while > 7 days left
        # every business day from 7 days left (Wed 03-25), through the due date (04-01), overdue
        *business_days(D("2026-03-25"), D("2026-06-29")),
    ]
    crit_escalations = [  # due + 3 = Sat 04-04 -> first business day Mon 04-06, then weekly
        D("2026-04-06"), D("2026-04-13"), D("2026-04-20"), D("2026-04-27"),
        D("2026-05-04"), D("2026-05-11"), D("2026-05-18"), D("2026-05-25"),
        D("2026-06-01"), D("2026-06-08"), D("2026-06-15"), D("2026-06-22"), D("2026-06-29"),
    ]  # fmt: skip
    med_weekly = [
        D("2026-03-09"), D("2026-03-16"), D("2026-03-23"), D("2026-03-30"),
        D("2026-04-06"), D("2026-04-13"), D("2026-04-20"), D("2026-04-27"),
        D("2026-05-04"), D("2026-05-11"), D("2026-05-18"),
    ]  # fmt: skip
    med_thread = [
        D("2026-03-02"),
        *med_weekly,
        # 7 days left is Sun 05-24: the daily window starts Mon 05-25
        *business_days(D("2026-05-25"), D("2026-06-29")),
    ]
    med_escalations = [D("2026-06-03"), D("2026-06-10"), D("2026-06-17"), D("2026-06-24")]
    assert D("2026-03-28") not in crit_thread and D("2026-03-29") not in crit_thread  # weekend

    # -- drive 120 days: the opening tick, then 09:05 each day plus some off-slot ticks -----
    thread_dates: dict[int, list[date]] = defaultdict(list)
    escalation_dates: dict[int, list[date]] = defaultdict(list)
    seen = 0
    moments = [T0]
    for day in (T0.date() + timedelta(days=n) for n in range(1, 120)):
        if day.weekday() == 0:  # Mondays: before the slot, and again late that evening
            moments += [at(day, 8, 0), at(day), at(day, 23, 30)]
        else:
            moments.append(at(day))
    assert moments[-1].date() == D("2026-06-29")
    for moment in moments:
        run_tick(sctx, moment)
        new, seen = new_posts(fake_slack, seen)
        if moment.hour == 8:
            assert new == [], f"nothing is due before the 09:00 slot ({moment})"
        for body in new:
            tid = ticket_ref(body)
            assert tid in (crit.id, med.id)
            if body["channel"] == SECURITY_CHANNEL:
                assert header_of(body) == ":warning: Overdue remediation (escalation)"
                escalation_dates[tid].append(moment.date())
            else:
                assert body["channel"] in (TEAM_CHANNEL, get_ticket(sctx, tid).slack_channel)
                thread_dates[tid].append(moment.date())

    assert thread_dates[crit.id] == crit_thread
    assert escalation_dates[crit.id] == crit_escalations
    assert thread_dates[med.id] == med_thread
    assert escalation_dates[med.id] == med_escalations

    # The event log says the same, slot by slot.
    for ticket, thread, escalations in (
        (crit, crit_thread, crit_escalations),
        (med, med_thread, med_escalations),
    ):
        recorded = reminder_events(sctx, ticket.id)
        by_kind: dict[str, list[date]] = defaultdict(list)
        for event in recorded:
            by_kind[event.details["kind"]].append(event.at.date())
            slot = event.details["slot"]
            assert slot == "open" or slot.endswith(event.at.date().isoformat())
        assert by_kind["open"] == thread[:1]
        assert by_kind["reminder"] == thread[1:]
        assert by_kind["escalation"] == escalations
        # One job per slot, none failed.
        jobs = [j for j in job_rows(sctx, "notify.reminder") if j.payload["ticket_id"] == ticket.id]
        assert len(jobs) == len(thread) + len(escalations)
        assert {j.state for j in jobs} == {"done"}

    # Threading: one parent per ticket in the team channel, every later one a reply to it, and
    # the parent refreshed in place after each reply.
    for ticket in (crit, med):
        parent = get_ticket(sctx, ticket.id)
        mine = [b for b in posts(fake_slack, ticket.id) if b["channel"] != SECURITY_CHANNEL]
        assert mine[0]["channel"] == TEAM_CHANNEL and "thread_ts" not in mine[0]
        assert all(b["thread_ts"] == parent.slack_thread_ts for b in mine[1:])
        updates = [
            u
            for u in fake_slack.successful_calls("chat.update")
            if u["ts"] == parent.slack_thread_ts
        ]
        assert len(updates) == len(mine) - 1


def test_late_tick_sends_only_the_latest_slot(sctx: AppContext, fake_slack: FakeSlack) -> None:
    ticket = open_ticket(sctx, template="late", severity="critical", now=T0)
    run_tick(sctx, T0)
    assert [header_of(b) for b in posts(fake_slack)] == [":new: New remediation ticket"]
    # The clock was down for three weeks: weekly 03-09, 03-16, 03-23 and daily 03-25 missed.
    run_tick(sctx, at(D("2026-03-25"), 15, 0))
    late = posts(fake_slack)[1:]
    assert len(late) == 1
    assert [e.details["slot"] for e in reminder_events(sctx, ticket.id)] == [
        "open",
        "reminder:2026-03-25",
    ]
    run_tick(sctx, at(D("2026-03-25"), 18, 0))
    run_tick(sctx, at(D("2026-03-26"), 8, 0))
    assert len(posts(fake_slack)) == 2
    run_tick(sctx, at(D("2026-03-26")))
    assert len(posts(fake_slack)) == 3


def test_concurrent_and_repeated_ticks_send_each_slot_once(
    sctx: AppContext, fake_slack: FakeSlack
) -> None:
    tickets = [
        open_ticket(sctx, template=f"conc-{n}", severity="critical", now=T0, asset=f"https://h{n}/")
        for n in range(3)
    ]
    for moment in (T0, at(D("2026-03-09")), at(D("2026-03-25")), at(D("2026-04-06"))):
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def worker(
            moment: datetime = moment,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                barrier.wait(timeout=10)
                run_tick(sctx, moment)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors
        run_tick(sctx, moment)  # and once more at the same now
    slots = [(e.ticket_id, e.details["slot"]) for e in events(sctx, "reminder.sent")]
    assert len(slots) == len(set(slots))
    for ticket in tickets:
        assert sorted(s for t, s in slots if t == ticket.id) == [
            "escalation:2026-04-06",
            "open",
            "reminder:2026-03-09",
            "reminder:2026-03-25",
            "reminder:2026-04-06",
        ]
    # Posts at the fake: 3 parents + 3 x 3 replies in threads + 3 escalations, no duplicates.
    assert len(posts(fake_slack)) == 3 + 9 + 3
    assert len({(b["channel"], b.get("thread_ts"), b["text"]) for b in posts(fake_slack)}) == 15


def _resolve(ctx: AppContext, ticket_id: int, now: datetime) -> None:
    with transaction(ctx.sessions) as session:
        ticket = session.get(Ticket, ticket_id)
        assert ticket is not None
        set_local_status(session, ticket, status="resolved", now=now, actor="dev@example.com")


def test_reminders_stop_when_the_ticket_resolves(sctx: AppContext, fake_slack: FakeSlack) -> None:
    ticket = open_ticket(sctx, template="fixme", severity="critical", now=T0)
    other = open_ticket(sctx, template="other", severity="critical", now=T0, asset="https://o/")
    run_tick(sctx, T0)
    assert len(posts(fake_slack, ticket.id)) == 1
    # The clock enqueues the 03-09 slot; the ticket is fixed before a worker sends it.
    from bot.clock.schedule import run_schedulers
    from bot.registry import schedulers

    slot_time = at(D("2026-03-09"))
    assert run_schedulers(sctx, schedulers(), now=slot_time) >= 2
    queued = [
        j
        for j in job_rows(sctx, "notify.reminder")
        if j.payload["ticket_id"] == ticket.id and j.state == "queued"
    ]
    assert [j.payload["slot"] for j in queued] == ["reminder:2026-03-09"]
    _resolve(sctx, ticket.id, slot_time + timedelta(seconds=1))
    assert [e.to_state for e in events(sctx, "ticket.status_changed")] == ["resolved"]

    run_tick(sctx, slot_time + timedelta(seconds=2))
    assert len(posts(fake_slack, ticket.id)) == 1  # the queued job sent nothing
    assert len(posts(fake_slack, other.id)) == 2  # the other ticket was reminded
    job = next(j for j in job_rows(sctx, "notify.reminder") if j.id == queued[0].id)
    assert job.state == "done"
    assert get_ticket(sctx, ticket.id).next_reminder_at is None
    for n in range(1, 60):
        run_tick(sctx, at(D("2026-03-09") + timedelta(days=n)))
    assert len(posts(fake_slack, ticket.id)) == 1
    assert [e.details["slot"] for e in reminder_events(sctx, ticket.id)] == ["open"]
    assert len(reminder_events(sctx, other.id)) > 20
