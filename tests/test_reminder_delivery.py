"""Reminder delivery: who is mentioned and where (assignee, channel, approvers by DM), escaped
scan text, and what happens when Slack fails (rate limits, missing channels, racing workers)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.context import AppContext
from bot.database.core import transaction
from tests.fakes.slack import FakeSlack
from tests.helpers_slack import (
    SECURITY_CHANNEL,
    T0,
    TEAM_CHANNEL,
    at,
    get_ticket,
    header_of,
    job_rows,
    open_ticket,
    posts,
    reminder_events,
    run_tick,
    set_assignee,
    slack_ctx,
)

pytest_plugins = ["tests.fakes.slack_fixtures"]

D = date.fromisoformat


@pytest.fixture
def sctx(ctx: AppContext, fake_slack: FakeSlack) -> AppContext:
    return slack_ctx(ctx, fake_slack, security_channel=SECURITY_CHANNEL)


# -- who gets it ---------------------------------------------------------------------------
def test_assignee_found_by_email_is_mentioned_in_the_thread(
    sctx: AppContext, fake_slack: FakeSlack
) -> None:
    fake_slack.add_user("dev@example.com", "UDEV1", "dev")
    ticket = open_ticket(sctx, template="mention", severity="critical", now=T0)
    set_assignee(sctx, ticket.id, "dev@example.com")
    run_tick(sctx, T0)
    run_tick(sctx, at(D("2026-03-09")))
    parent, reply = posts(fake_slack, ticket.id)
    assert fake_slack.calls("users.lookupByEmail")[0]["email"] == "dev@example.com"
    for body in (parent, reply):
        assert str(body["text"]).startswith("<@UDEV1> ")
        assert any(t.startswith("<@UDEV1> ") for t in _texts(body))
    assert reply["thread_ts"] == get_ticket(sctx, ticket.id).slack_thread_ts
    assert [e.details["mention"] for e in reminder_events(sctx, ticket.id)] == ["UDEV1"] * 2


def _texts(body: dict[str, object]) -> list[str]:
    from tests.fakes.slack_fixtures import iter_blocks_text

    return list(iter_blocks_text(list(body.get("blocks") or [])))  # type: ignore[call-overload]


def test_unknown_assignee_and_no_assignee_go_to_the_channel_unmentioned(
    sctx: AppContext, fake_slack: FakeSlack
) -> None:
    unknown = open_ticket(sctx, template="unknown", severity="critical", now=T0)
    nobody = open_ticket(sctx, template="nobody", severity="critical", now=T0, asset="https://n/")
    set_assignee(sctx, unknown.id, "gone@example.com")
    run_tick(sctx, T0)
    lookups = fake_slack.requests("users.lookupByEmail")
    assert [c.body["email"] for c in lookups] == ["gone@example.com"]
    assert lookups[0].response == {"ok": False, "error": "users_not_found"}
    for ticket in (unknown, nobody):
        (body,) = posts(fake_slack, ticket.id)
        assert body["channel"] == TEAM_CHANNEL and "thread_ts" not in body
        assert "<@" not in str(body["text"]) and not any("<@" in t for t in _texts(body))
        (event,) = reminder_events(sctx, ticket.id)
        assert event.details["mention"] is None
        assert event.details["recipients"][0].startswith(get_ticket(sctx, ticket.id).slack_channel)


def test_scan_text_arrives_escaped(sctx: AppContext, fake_slack: FakeSlack) -> None:
    ticket = open_ticket(
        sctx, template="inject", severity="critical", now=T0, name="Pwn <!channel> & <@U1>"
    )
    run_tick(sctx, T0)
    (body,) = posts(fake_slack, ticket.id)
    texts = [str(body["text"]), *_texts(body)]
    assert any("Pwn &lt;!channel&gt; &amp; &lt;@U1&gt;" in t for t in texts)
    assert not any("<!channel>" in t or "<@U1>" in t for t in texts)


def test_escalation_without_security_channel_dms_each_approver(
    ctx: AppContext, fake_slack: FakeSlack
) -> None:
    sctx = slack_ctx(ctx, fake_slack, security_channel=None)
    ticket = open_ticket(sctx, template="esc", severity="critical", now=T0)
    run_tick(sctx, T0)
    fake_slack.reset()
    run_tick(sctx, at(D("2026-04-06")))
    opened = sorted(c["users"] for c in fake_slack.successful_calls("conversations.open"))
    assert opened == ["ULEAD1", "ULEAD2"]
    escalations = [
        b
        for b in posts(fake_slack, ticket.id)
        if header_of(b) and "escalation" in str(header_of(b))
    ]
    assert sorted(b["channel"] for b in escalations) == ["DLEAD1", "DLEAD2"]
    (event,) = [e for e in reminder_events(sctx, ticket.id) if e.details["kind"] == "escalation"]
    assert sorted(r.split(":")[0] for r in event.details["recipients"]) == ["DLEAD1", "DLEAD2"]


# -- failures -------------------------------------------------------------------------------
def test_rate_limited_reminder_is_retried_after_retry_after(
    sctx: AppContext, fake_slack: FakeSlack
) -> None:
    ticket = open_ticket(sctx, template="ratelimited", severity="critical", now=T0)
    run_tick(sctx, T0)
    fake_slack.ratelimit_next(1, retry_after=120, method="chat.postMessage")
    now = at(D("2026-03-09"))
    run_tick(sctx, now)
    (job,) = [j for j in job_rows(sctx, "notify.reminder") if j.payload["slot"] != "open"]
    assert job.state == "queued" and job.attempts == 1
    assert job.run_after >= now + timedelta(seconds=120)
    assert "ratelimited" in (job.last_error or "")
    assert fake_slack.call_count("chat.postMessage") == 2  # the open message + the 429
    run_tick(sctx, now + timedelta(seconds=60))  # not due yet
    assert len(posts(fake_slack, ticket.id)) == 1
    run_tick(sctx, job.run_after + timedelta(seconds=1))
    assert len(posts(fake_slack, ticket.id)) == 2
    run_tick(sctx, job.run_after + timedelta(hours=1))
    assert len(posts(fake_slack, ticket.id)) == 2
    assert [e.details["slot"] for e in reminder_events(sctx, ticket.id)] == [
        "open",
        "reminder:2026-03-09",
    ]
    (job,) = [j for j in job_rows(sctx, "notify.reminder") if j.payload["slot"] != "open"]
    assert job.state == "done" and job.attempts == 2


def test_channel_not_found_makes_the_job_dead(sctx: AppContext, fake_slack: FakeSlack) -> None:
    ticket = open_ticket(sctx, template="nochannel", severity="critical", now=T0)
    fake_slack.fail_method("chat.postMessage", "channel_not_found")
    run_tick(sctx, T0)
    (job,) = job_rows(sctx, "notify.reminder")
    assert job.state == "dead" and job.attempts == 1
    assert "chat.postMessage failed: channel_not_found" in (job.last_error or "")
    assert reminder_events(sctx, ticket.id) == []
    assert get_ticket(sctx, ticket.id).slack_thread_ts is None


def test_parent_refresh_failure_does_not_repeat_the_reply(
    sctx: AppContext, fake_slack: FakeSlack
) -> None:
    ticket = open_ticket(sctx, template="refresh", severity="critical", now=T0)
    run_tick(sctx, T0)
    fake_slack.ratelimit_next(1, retry_after=30, method="chat.update")
    now = at(D("2026-03-09"))
    run_tick(sctx, now)
    assert len(posts(fake_slack, ticket.id)) == 2  # the reply went out, the refresh did not
    run_tick(sctx, now + timedelta(minutes=5))
    assert len(posts(fake_slack, ticket.id)) == 2  # the retry only refreshed the parent
    assert len(fake_slack.successful_calls("chat.update")) == 1
    assert len(reminder_events(sctx, ticket.id)) == 2

    # A parent that no longer exists (message_not_found) does not stop the reminders.
    fake_slack.fail_method("chat.update", "message_not_found")
    run_tick(sctx, at(D("2026-03-16")))
    assert len(posts(fake_slack, ticket.id)) == 3
    assert {j.state for j in job_rows(sctx, "notify.reminder")} == {"done"}


def test_two_workers_opening_the_same_thread_post_one_parent(
    sctx: AppContext, fake_slack: FakeSlack
) -> None:
    """The open slot and the next slot of a brand-new ticket run on two workers at once: the
    second waits while the first posts the ticket's first message, then replies in its
    thread."""
    from bot.jobs.errors import RetryableJobError
    from bot.jobs.service import claim, enqueue
    from bot.notifications.factory import get_notifier
    from bot.notifications.reminders import send_reminder

    ticket = open_ticket(sctx, template="race", severity="critical", now=T0)
    now = at(D("2026-03-09"))
    with transaction(sctx.sessions) as session:
        for slot, kind in (("open", "open"), ("2026-03-09", "reminder")):
            enqueue(
                session,
                kind="notify.reminder",
                key=f"race:{slot}",
                now=now,
                payload={"ticket_id": ticket.id, "slot": slot, "kind": kind},
            )
    with transaction(sctx.sessions) as session:
        [first] = claim(session, worker_id="w1", now=now, lease=timedelta(minutes=5))
        [second] = claim(session, worker_id="w2", now=now, lease=timedelta(minutes=5))

    notifier = get_notifier(sctx)
    real_post = notifier.post
    interleaved: list[str] = []

    def post_while_the_other_worker_runs(*args: object, **kwargs: object) -> object:
        if not interleaved:  # the first job is about to post the parent: the second runs now
            with pytest.raises(RetryableJobError, match="opening its Slack thread") as waited:
                send_reminder(sctx, second, now)
            interleaved.append(str(waited.value))
        return real_post(*args, **kwargs)  # type: ignore[arg-type]

    notifier.post = post_while_the_other_worker_runs  # type: ignore[method-assign]
    try:
        send_reminder(sctx, first, now)
    finally:
        notifier.post = real_post  # type: ignore[method-assign]
    assert len(interleaved) == 1
    send_reminder(sctx, second, now)  # its retry: the thread exists now

    parent, reply = posts(fake_slack, ticket.id)
    opened = get_ticket(sctx, ticket.id)
    assert "thread_ts" not in parent and reply["thread_ts"] == opened.slack_thread_ts
    assert opened.slack_thread_ts is not None and not opened.slack_thread_ts.startswith("claim:")


def test_a_failed_first_post_releases_the_thread_claim(
    sctx: AppContext, fake_slack: FakeSlack
) -> None:
    ticket = open_ticket(sctx, template="release", severity="critical", now=T0)
    fake_slack.ratelimit_next(1, retry_after=30, method="chat.postMessage")
    run_tick(sctx, T0)  # the first post is rate limited: nothing posted, nothing claimed
    assert get_ticket(sctx, ticket.id).slack_thread_ts is None
    run_tick(sctx, T0 + timedelta(minutes=5))  # the retry opens the thread
    [parent] = posts(fake_slack, ticket.id)
    assert "thread_ts" not in parent
    opened = get_ticket(sctx, ticket.id).slack_thread_ts
    assert opened is not None and not opened.startswith("claim:")
    assert {j.state for j in job_rows(sctx, "notify.reminder")} == {"done"}
