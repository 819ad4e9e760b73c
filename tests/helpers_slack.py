"""Shared helpers for the Slack, reminder and risk-acceptance tests (not a test module)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import SecretStr
from sqlalchemy import select, update

from bot.acceptances.models import RiskAcceptance
from bot.clock.schedule import TickReport, tick
from bot.context import AppContext
from bot.database.core import transaction
from bot.events.models import Event
from bot.jobs.models import Job
from bot.registry import job_handlers, schedulers
from bot.tickets.models import Ticket
from tests.conftest import DATA
from tests.fakes.slack import FakeSlack
from tests.fakes.slack_fixtures import (
    SLACK_TEST_SIGNING_SECRET,
    SLACK_TEST_TOKEN,
    iter_blocks_text,
)
from tests.helpers_ingest import events, ingest_bytes, jsonl, record

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
TEAM_CHANNEL = "#sec-alerts"
SECURITY_CHANNEL = "#sec-approvals"
APPROVERS = ("ULEAD1", "ULEAD2")
_TICKET_REF = re.compile(r"slabot ticket #(\d+)")


def slack_ctx(
    ctx: AppContext,
    fake: FakeSlack,
    *,
    security_channel: str | None = None,
    clock: datetime | None = None,
) -> AppContext:
    """``ctx`` wired to the fake Slack (and to a local KEV file, so a tick never dials out)."""
    settings = ctx.settings.model_copy(
        update={
            "slack_bot_token": SecretStr(SLACK_TEST_TOKEN),
            "slack_signing_secret": SecretStr(SLACK_TEST_SIGNING_SECRET),
            "slack_channel": TEAM_CHANNEL,
            "slack_approvers": ",".join(APPROVERS),
            "slack_security_channel": security_channel,
            "slack_api_url": fake.base_url,
            "kev_file": DATA / "kev" / "small_catalog.json",
        }
    )
    new = dataclasses.replace(ctx, settings=settings, services={})
    if clock is not None:
        moment = clock
        new.clock = lambda: moment
    return new


def set_clock(ctx: AppContext, moment: datetime) -> None:
    ctx.clock = lambda: moment


def open_ticket(
    ctx: AppContext,
    *,
    template: str,
    severity: str,
    now: datetime,
    asset: str = "https://app.example.com/login",
    name: str | None = None,
) -> Ticket:
    ingest_bytes(
        ctx, jsonl([record(template, severity=severity, matched_at=asset, name=name)]), now=now
    )
    with ctx.sessions() as session:
        ticket = session.scalar(select(Ticket).where(Ticket.template_id == template))
    assert ticket is not None
    return ticket


def get_ticket(ctx: AppContext, ticket_id: int) -> Ticket:
    with ctx.sessions() as session:
        ticket = session.get(Ticket, ticket_id)
    assert ticket is not None
    return ticket


def set_assignee(ctx: AppContext, ticket_id: int, email: str | None) -> None:
    with transaction(ctx.sessions) as session:
        session.execute(update(Ticket).where(Ticket.id == ticket_id).values(assignee_email=email))


def run_tick(ctx: AppContext, now: datetime) -> TickReport:
    """A real tick minus the weekly snapshot and cadence checks: these suites count the Slack
    traffic of reminders and acceptances; snapshots and cadence have suites of their own."""
    from bot.cadence.service import schedule_cadence_check
    from bot.snapshots.service import schedule_weekly_snapshot

    skipped = (schedule_weekly_snapshot, schedule_cadence_check)
    return tick(ctx, [s for s in schedulers() if s not in skipped], job_handlers(), now=now)


def at(day: date, hour: int = 9, minute: int = 5) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def days(start: date, end: date) -> Iterable[date]:
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


def business_days(start: date, end: date) -> list[date]:
    """Mon-Fri between two dates, both included."""
    return [d for d in days(start, end) if d.weekday() < 5]


def ticket_ref(body: Mapping[str, Any]) -> int | None:
    """The ticket a recorded chat.* call is about (its "slabot ticket #N" context line)."""
    for text in iter_blocks_text(list(body.get("blocks") or [])):
        found = _TICKET_REF.search(text)
        if found:
            return int(found.group(1))
    return None


def header_of(body: Mapping[str, Any]) -> str | None:
    for block in body.get("blocks") or []:
        if block.get("type") == "header":
            return str(block["text"]["text"])
    return None


def posts(fake: FakeSlack, ticket_id: int | None = None) -> list[dict[str, Any]]:
    """Successful chat.postMessage bodies (about ``ticket_id`` when given), oldest first."""
    out = fake.successful_calls("chat.postMessage")
    return [b for b in out if ticket_id is None or ticket_ref(b) == ticket_id]


def job_rows(ctx: AppContext, kind: str | None = None) -> list[Job]:
    with ctx.sessions() as session:
        query = select(Job).order_by(Job.id)
        if kind is not None:
            query = query.where(Job.kind == kind)
        return list(session.scalars(query))


def acceptances(ctx: AppContext) -> list[RiskAcceptance]:
    with ctx.sessions() as session:
        return list(session.scalars(select(RiskAcceptance).order_by(RiskAcceptance.id)))


# -- signed requests to POST /slack/events ---------------------------------------------------
def button_payload(
    fake: FakeSlack,
    *,
    action_id: str,
    value: str,
    user_id: str,
    channel_id: str,
    message_ts: str,
    user_name: str | None = None,
    trigger_id: str = "1111.2222.trigger",
) -> dict[str, Any]:
    from tests.fakes.slack_fixtures import block_actions_payload

    message = fake.message(channel_id, message_ts)
    return block_actions_payload(
        action_id=action_id,
        value=value,
        user_id=user_id,
        user_name=user_name or user_id.lower(),
        channel_id=channel_id,
        message_ts=message_ts,
        trigger_id=trigger_id,
        response_url=fake.response_url,
        message=message,
    )


def post_interactivity(
    client: Any,
    payload: Mapping[str, Any],
    *,
    secret: str = SLACK_TEST_SIGNING_SECRET,
    timestamp: int | None = None,
) -> Any:
    from tests.fakes.slack_fixtures import signed_interactivity_request

    body, headers = signed_interactivity_request(secret, payload, timestamp=timestamp)
    return client.post("/slack/events", content=body, headers=headers)


def post_command(client: Any, text: str, *, user_id: str) -> Any:
    import time
    from urllib.parse import urlencode

    from tests.fakes.slack_fixtures import signed_slack_request

    body = urlencode(
        {
            "token": "legacy",
            "team_id": "T0SLABOT",
            "channel_id": "C0SLABOT",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/slabot",
            "text": text,
            "response_url": "https://hooks.slack.com/commands/T0SLABOT/1/x",
            "trigger_id": "5555.6666.trigger",
        }
    ).encode()
    headers = signed_slack_request(SLACK_TEST_SIGNING_SECRET, body, int(time.time()))
    return client.post("/slack/events", content=body, headers=headers)


def new_posts(fake: FakeSlack, seen: int) -> tuple[list[dict[str, object]], int]:
    """The messages posted since the first ``seen``, and how many there are now."""
    calls = fake.successful_calls("chat.postMessage")
    return calls[seen:], len(calls)


def reminder_events(ctx: AppContext, ticket_id: int) -> list[Event]:
    return [e for e in events(ctx, "reminder.sent") if e.ticket_id == ticket_id]
