"""Running claimed jobs: dispatch to the handler for the job's kind and record the outcome."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from prometheus_client import Counter

from bot.context import AppContext
from bot.database.core import transaction
from bot.jobs import service
from bot.jobs.errors import PermanentJobError, RetryableJobError
from bot.jobs.service import ClaimedJob
from bot.metrics import REGISTRY

log = logging.getLogger(__name__)

Handler = Callable[[AppContext, ClaimedJob, datetime], None]

JOBS_FINISHED = Counter(
    "slabot_jobs_finished_total",
    "Job attempts by kind and outcome",
    ["kind", "outcome"],
    registry=REGISTRY,
)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_job(
    ctx: AppContext, handlers: Mapping[str, Handler], job: ClaimedJob, *, now: datetime
) -> str:
    """Run one claimed job and record done/queued/dead. Returns the outcome."""
    handler = handlers.get(job.kind)
    error: str
    permanent = False
    retry_after: timedelta | None = None
    if handler is None:
        error, permanent = f"no handler for job kind {job.kind!r}", True
    else:
        try:
            handler(ctx, job, now)
        except PermanentJobError as exc:
            error, permanent = str(exc), True
        except RetryableJobError as exc:
            error, retry_after = str(exc), exc.retry_after
        except Exception as exc:  # a handler bug must not kill the worker; the job records it
            log.exception("job %s (%s) failed", job.id, job.kind)
            error = f"{type(exc).__name__}: {exc}"
        else:
            with transaction(ctx.sessions) as session:
                owned = service.complete(session, job, now=now)
            outcome = "done" if owned else "lease_lost"
            JOBS_FINISHED.labels(job.kind, outcome).inc()
            return outcome
    with transaction(ctx.sessions) as session:
        outcome = service.fail(
            session, job, now=now, error=error, permanent=permanent, retry_after=retry_after
        )
    if outcome == "dead":
        log.error("job %s (%s) is dead: %s", job.id, job.kind, error)
    else:
        log.warning("job %s (%s) will be retried: %s", job.id, job.kind, error)
    JOBS_FINISHED.labels(job.kind, outcome).inc()
    return outcome


def run_due_jobs(
    ctx: AppContext,
    handlers: Mapping[str, Handler],
    *,
    now: datetime,
    worker_id: str | None = None,
    max_jobs: int = 1_000_000,
) -> int:
    """Run every job due at ``now`` (including ones that handlers enqueue meanwhile)."""
    worker = worker_id or default_worker_id()
    lease = timedelta(seconds=ctx.settings.job_lease_seconds)
    ran = 0
    while ran < max_jobs:
        with transaction(ctx.sessions) as session:
            claimed = service.claim(session, worker_id=worker, now=now, lease=lease, limit=20)
        if not claimed:
            break
        for job in claimed:
            run_job(ctx, handlers, job, now=now)
            ran += 1
    return ran
