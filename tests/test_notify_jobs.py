"""The other notify.* jobs and the notifier factory, against the fake Slack Web API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.context import AppContext
from bot.database.core import transaction
from bot.jobs.runner import run_due_jobs
from bot.jobs.service import enqueue
from bot.notifications.factory import get_notifier
from bot.registry import job_handlers
from integrations.slack import ConsoleNotifier, SlackNotifier
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_fixtures import iter_blocks_text
from tests.helpers_slack import (
    SECURITY_CHANNEL,
    T0,
    TEAM_CHANNEL,
    get_ticket,
    header_of,
    job_rows,
    open_ticket,
    posts,
    run_tick,
    slack_ctx,
)

pytest_plugins = ["tests.fakes.slack_fixtures"]


def _enqueue(ctx: AppContext, kind: str, key: str, payload: dict[str, Any]) -> None:
    with transaction(ctx.sessions) as session:
        assert enqueue(session, kind=kind, key=key, now=T0, payload=payload)


def _texts(body: dict[str, Any]) -> list[str]:
    return [str(body.get("text")), *iter_blocks_text(list(body.get("blocks") or []))]


def test_factory_picks_console_without_token_and_slack_with_one(
    ctx: AppContext, fake_slack: FakeSlack
) -> None:
    console = get_notifier(ctx)
    assert isinstance(console, ConsoleNotifier)
    assert get_notifier(ctx) is console  # cached per context
    sctx = slack_ctx(ctx, fake_slack)
    slack = get_notifier(sctx)
    assert isinstance(slack, SlackNotifier)
    assert "xoxb" not in repr(slack)


def run_jobs(ctx: AppContext, now: datetime) -> None:
    """Only the queued jobs: these tests enqueue notify jobs themselves (a full tick would also
    write the weekly snapshot and post its summary)."""
    run_due_jobs(ctx, job_handlers(), now=now)


def test_console_notifier_sends_reminders_to_the_log(ctx: AppContext) -> None:
    ticket = open_ticket(ctx, template="console", severity="critical", now=T0)
    run_tick(ctx, T0)
    notifier = get_notifier(ctx)
    assert isinstance(notifier, ConsoleNotifier)
    # The clock also posts the weekly snapshot summary; follow this ticket's thread only.
    (sent,) = [r for r in notifier.sent if "slabot ticket #" in str(r.blocks)]
    assert (sent.kind, sent.channel) == ("post", "#slabot")
    thread = get_ticket(ctx, ticket.id).slack_thread_ts
    assert thread == sent.ts
    run_tick(ctx, T0.replace(day=9, hour=9, minute=5))
    in_thread = [r.kind for r in notifier.sent if thread in (r.ts, r.thread_ts)]
    assert in_thread == ["post", "post", "update"]


def test_kev_escalation_goes_to_the_ticket_thread(ctx: AppContext, fake_slack: FakeSlack) -> None:
    sctx = slack_ctx(ctx, fake_slack)
    ticket = open_ticket(sctx, template="kev", severity="high", now=T0)
    lonely = open_ticket(sctx, template="lonely", severity="high", now=T0, asset="https://l/")
    run_tick(sctx, T0)
    thread_ts = get_ticket(sctx, ticket.id).slack_thread_ts
    from bot.tickets.models import Ticket

    with transaction(sctx.sessions) as session:  # a ticket never announced has no thread
        row = session.get(Ticket, lonely.id)
        assert row is not None
        row.slack_thread_ts = None
        row.slack_channel = None
    _enqueue(sctx, "notify.ticket", "notify.ticket:kev", {"ticket_id": ticket.id})
    _enqueue(sctx, "notify.ticket", "notify.ticket:lonely", {"ticket_id": lonely.id})
    run_jobs(sctx, T0 + timedelta(minutes=1))
    kev_posts = [b for b in posts(fake_slack) if "known exploited" in str(header_of(b))]
    assert len(kev_posts) == 2
    by_ticket = {b["text"].split(":")[1].split()[0]: b for b in kev_posts}
    assert by_ticket["kev"]["thread_ts"] == thread_ts
    assert "thread_ts" not in by_ticket["lonely"]
    assert by_ticket["lonely"]["channel"] == TEAM_CHANNEL


def test_unverified_and_scan_missed_go_to_security(ctx: AppContext, fake_slack: FakeSlack) -> None:
    sctx = slack_ctx(ctx, fake_slack, security_channel=SECURITY_CHANNEL)
    ticket = open_ticket(sctx, template="wontfix", severity="high", now=T0, name="X <!here>")
    _enqueue(
        sctx,
        "notify.unverified",
        "u:1",
        {"ticket_id": ticket.id, "resolution": "Won't Fix <@U1>"},
    )
    _enqueue(
        sctx,
        "notify.scan_missed",
        "m:1",
        {
            "target": "https://app.example.com <!channel>",
            "window_start": "2026-02-23T02:00:00+00:00",
            "window_end": "2026-03-02T02:00:00+00:00",
        },
    )
    run_jobs(sctx, T0)
    security = [b for b in posts(fake_slack) if b["channel"] == SECURITY_CHANNEL]
    assert len(security) == 2
    joined = "\n".join(t for b in security for t in _texts(b))
    assert "resolved_unverified" in joined and "Scan cadence gap" in joined
    assert "<!here>" not in joined and "<!channel>" not in joined and "<@U1>" not in joined
    assert "&lt;!channel&gt;" in joined


def test_security_messages_dm_each_approver_without_a_channel(
    ctx: AppContext, fake_slack: FakeSlack
) -> None:
    sctx = slack_ctx(ctx, fake_slack, security_channel=None)
    _enqueue(
        sctx,
        "notify.scan_missed",
        "m:2",
        {
            "target": "10.0.0.0/24",
            "window_start": "2026-02-23T02:00:00+00:00",
            "window_end": "2026-03-02T02:00:00+00:00",
        },
    )
    _enqueue(
        sctx,
        "notify.snapshot",
        "s:1",
        {"week": "2026-W09", "figures": {"overdue": 0}, "uri": "s3://b/k.json"},
    )
    run_jobs(sctx, T0)
    channels = sorted(b["channel"] for b in posts(fake_slack))
    assert channels == [TEAM_CHANNEL, "DLEAD1", "DLEAD2"]
    (snapshot,) = [b for b in posts(fake_slack) if b["channel"] == TEAM_CHANNEL]
    assert "2026-W09" in snapshot["text"] and "s3://b/k.json" in snapshot["text"]


def test_server_errors_retry_and_auth_errors_die(ctx: AppContext, fake_slack: FakeSlack) -> None:
    sctx = slack_ctx(ctx, fake_slack)
    payload = {"week": "2026-W09", "figures": {}, "uri": "file:///e/s.json"}
    _enqueue(sctx, "notify.snapshot", "s:503", payload)
    fake_slack.fail_method("chat.postMessage", "service_unavailable", status=503, times=1)
    run_jobs(sctx, T0)
    (job,) = job_rows(sctx, "notify.snapshot")
    assert job.state == "queued" and "service_unavailable" in (job.last_error or "")
    run_jobs(sctx, T0 + timedelta(minutes=5))
    (job,) = job_rows(sctx, "notify.snapshot")
    assert job.state == "done" and len(posts(fake_slack)) == 1

    _enqueue(sctx, "notify.snapshot", "s:auth", payload)
    fake_slack.fail_method("chat.postMessage", "invalid_auth")
    run_jobs(sctx, T0 + timedelta(minutes=6))
    dead = [j for j in job_rows(sctx, "notify.snapshot") if j.idempotency_key == "s:auth"]
    assert dead[0].state == "dead" and "invalid_auth" in (dead[0].last_error or "")


def test_missing_rows_make_jobs_dead(ctx: AppContext, fake_slack: FakeSlack) -> None:
    sctx = slack_ctx(ctx, fake_slack)
    _enqueue(sctx, "notify.approval_request", "a:404", {"request_id": 404})
    _enqueue(sctx, "notify.reminder", "r:404", {"ticket_id": 404, "slot": "open", "kind": "open"})
    run_jobs(sctx, T0)
    states = {j.idempotency_key: (j.state, j.last_error) for j in job_rows(sctx)}
    assert states["a:404"] == ("dead", "risk acceptance 404 does not exist")
    assert states["r:404"] == ("dead", "ticket 404 does not exist")
    assert fake_slack.call_count("chat.postMessage") == 0
