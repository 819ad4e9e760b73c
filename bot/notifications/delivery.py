"""Sending from a job: notifier errors become job errors, and each send happens once per job.

A job that sends several messages (a thread reply and the parent's refresh, one DM per
approver) can fail half-way: a 429 on the third DM. The queue then retries the whole job, so
every step that already went out is recorded in the job's own payload (``_done``: step name ->
``"<channel>:<ts>"``) and skipped on the next attempt — a retry never posts a message twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from bot.context import AppContext
from bot.database.core import transaction
from bot.jobs.errors import PermanentJobError, RetryableJobError
from bot.jobs.models import Job
from bot.jobs.service import ClaimedJob
from bot.tickets.models import Ticket
from integrations.slack import NotifierError, PostedMessage

log = logging.getLogger(__name__)

DONE_KEY = "_done"


def send(fn: Callable[[], Any]) -> Any:
    """Run one notifier call; a retryable failure is retried by the queue (honouring
    Retry-After), anything else makes the job dead with Slack's error as its last_error."""
    try:
        return fn()
    except NotifierError as exc:
        if exc.retryable:
            raise RetryableJobError(str(exc), retry_after=exc.retry_after) from exc
        raise PermanentJobError(str(exc)) from exc


def location(posted: PostedMessage) -> str:
    return f"{posted.channel}:{posted.ts}"


def split_location(value: str) -> tuple[str, str]:
    channel, _, ts = value.partition(":")
    return channel, ts


# A ticket's slack_thread_ts while a job is posting its first message ("claim:<job>:<epoch>").
CLAIM_PREFIX = "claim:"


def thread_of(ticket: Ticket) -> str | None:
    """The ticket's Slack thread, if its first message has been posted."""
    ts = ticket.slack_thread_ts
    return None if ts is None or ts.startswith(CLAIM_PREFIX) else ts


def done_steps(job: ClaimedJob) -> dict[str, str]:
    raw = job.payload.get(DONE_KEY)
    if not isinstance(raw, dict):
        raw = {}
        job.payload[DONE_KEY] = raw
    return raw


def once(ctx: AppContext, job: ClaimedJob, step: str, fn: Callable[[], str | None]) -> str:
    """Run ``fn`` (one send) unless an earlier attempt of this job already did; remember it."""
    done = done_steps(job)
    if step in done:
        return done[step]
    result = send(fn) or ""
    done[step] = result
    with transaction(ctx.sessions) as session:
        session.execute(
            update(Job)
            .where(Job.id == job.id, Job.locked_by == job.worker_id)
            .values(payload=dict(job.payload))
            .execution_options(synchronize_session=False)
        )
    return result


def best_effort(ctx: AppContext, job: ClaimedJob, step: str, fn: Callable[[], None]) -> None:
    """Like :func:`once` for a cosmetic call (refreshing a message in place): a permanent
    failure (the message was deleted) is logged instead of killing the job."""

    def call() -> str:
        fn()
        return "ok"

    try:
        once(ctx, job, step, call)
    except PermanentJobError as exc:
        log.warning("job %s: %s skipped: %s", job.id, step, exc)
