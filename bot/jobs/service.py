"""The database job queue: enqueue, claim with a lease, finish, retry, die visibly.

Claiming uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so any number of workers share the
table without blocking each other. SQLAlchemy silently drops ``with_for_update`` on SQLite, so
there the claim is an atomic compare-and-set ``UPDATE … WHERE state = …`` inside a
``BEGIN IMMEDIATE`` transaction: the row count says whether this worker won.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Result, and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.jobs.backoff import retry_delay
from bot.jobs.models import Job

DEFAULT_MAX_ATTEMPTS = 8
# Tracker calls get more: backoff caps at an hour, so 25 attempts ride out most of a day of
# Jira/Linear outage before a job goes dead (and stays listed for `slabot jobs retry`).
TRACKER_MAX_ATTEMPTS = 25


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    id: int
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    worker_id: str


def enqueue(
    session: Session,
    *,
    kind: str,
    key: str,
    now: datetime,
    payload: Mapping[str, Any] | None = None,
    run_after: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> bool:
    """Queue a job unless one with ``key`` exists (then nothing happens). True if inserted."""
    values = {
        "kind": kind,
        "idempotency_key": key,
        "payload": dict(payload or {}),
        "state": "queued",
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after or now,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert_fn = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert_fn(Job)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Job.id)
    )
    return session.execute(statement).scalar() is not None


def _rowcount(result: Result[Any]) -> int:
    return int(getattr(result, "rowcount", 0))


def _claimable(now: datetime) -> Any:
    return or_(
        and_(Job.state == "queued", Job.run_after <= now),
        and_(Job.state == "running", Job.lease_until < now),
    )


def claim(
    session: Session, *, worker_id: str, now: datetime, lease: timedelta, limit: int = 1
) -> list[ClaimedJob]:
    """Claim up to ``limit`` due jobs (queued and due, or running with an expired lease).

    A job whose lease expired with no attempts left is marked dead here rather than run again.
    """
    query = select(Job).where(_claimable(now)).order_by(Job.run_after, Job.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed: list[ClaimedJob] = []
    for job in session.scalars(query).all():
        if job.state == "running" and job.attempts >= job.max_attempts:
            _mark_dead(session, job, now=now, error=_lease_lost(job))
            continue
        won = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == job.state, Job.attempts == job.attempts)
            .values(
                state="running",
                attempts=Job.attempts + 1,
                lease_until=now + lease,
                locked_by=worker_id,
                updated_at=now,
                last_error=_lease_lost(job) if job.state == "running" else job.last_error,
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(won):
            claimed.append(
                ClaimedJob(
                    job.id,
                    job.kind,
                    job.idempotency_key,
                    dict(job.payload),
                    job.attempts + 1,
                    job.max_attempts,
                    worker_id,
                )
            )
    session.expire_all()
    return claimed


def _lease_lost(job: Job) -> str:
    return f"lease held by {job.locked_by} expired (worker died or hung)"


def _owned(job: ClaimedJob) -> Any:
    return and_(Job.id == job.id, Job.state == "running", Job.locked_by == job.worker_id)


def complete(session: Session, job: ClaimedJob, *, now: datetime) -> bool:
    """Mark done; False if the lease was lost meanwhile (another worker owns it now)."""
    result = session.execute(
        update(Job)
        .where(_owned(job))
        .values(state="done", finished_at=now, updated_at=now, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


def fail(
    session: Session,
    job: ClaimedJob,
    *,
    now: datetime,
    error: str,
    permanent: bool = False,
    retry_after: timedelta | None = None,
    rng: random.Random | None = None,
) -> str:
    """Record a failure: back to ``queued`` after a backoff, or ``dead``. Returns the new state."""
    if permanent or job.attempts >= job.max_attempts:
        state, run_after, finished = "dead", None, now
        if not permanent:
            error = f"gave up after {job.attempts} attempts: {error}"
    else:
        state = "queued"
        run_after = now + retry_delay(job.attempts, retry_after=retry_after, rng=rng)
        finished = None
    values: dict[str, Any] = {
        "state": state,
        "last_error": error[:4000],
        "updated_at": now,
        "lease_until": None,
        "finished_at": finished,
    }
    if run_after is not None:
        values["run_after"] = run_after
    session.execute(
        update(Job).where(_owned(job)).values(**values).execution_options(synchronize_session=False)
    )
    return state


def _mark_dead(session: Session, job: Job, *, now: datetime, error: str) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job.id, Job.state == job.state, Job.attempts == job.attempts)
        .values(
            state="dead",
            last_error=f"gave up after {job.attempts} attempts: {error}",
            finished_at=now,
            updated_at=now,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )


def counts_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
    return {str(state): int(n) for state, n in rows}


def list_jobs(session: Session, *, state: str | None = None, limit: int = 100) -> list[Job]:
    query = select(Job).order_by(Job.id.desc()).limit(limit)
    if state is not None:
        query = query.where(Job.state == state)
    return list(session.scalars(query))


def retry_dead(session: Session, *, job_id: int, now: datetime) -> bool:
    """Operator action: give a dead job a fresh set of attempts."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.state == "dead")
        .values(state="queued", attempts=0, run_after=now, updated_at=now, finished_at=None)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1
