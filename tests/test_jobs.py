"""The job queue: exactly-once claims, leases, retries with backoff, dead jobs stay visible."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.context import AppContext
from bot.database.core import make_session_factory, transaction
from bot.jobs import service as jobs
from bot.jobs.backoff import backoff_delay, retry_delay
from bot.jobs.errors import PermanentJobError, RetryableJobError
from bot.jobs.models import Job
from bot.jobs.runner import run_due_jobs
from bot.jobs.service import ClaimedJob

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def _enqueue(engine: Engine, n: int, *, kind: str = "test", max_attempts: int = 3) -> None:
    with transaction(make_session_factory(engine)) as session:
        for i in range(n):
            jobs.enqueue(
                session,
                kind=kind,
                key=f"{kind}:{i}",
                payload={"i": i},
                now=T0,
                max_attempts=max_attempts,
            )


def _all_jobs(engine: Engine) -> list[Job]:
    with make_session_factory(engine)() as session:
        return list(session.scalars(select(Job).order_by(Job.id)))


def test_duplicate_idempotency_key_enqueues_nothing(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        assert jobs.enqueue(session, kind="k", key="same", now=T0, payload={"v": 1})
        assert not jobs.enqueue(session, kind="k", key="same", now=T0, payload={"v": 2})
    with transaction(sessions) as session:
        assert not jobs.enqueue(session, kind="k", key="same", now=T0)
    (job,) = _all_jobs(engine)
    assert job.payload == {"v": 1}


def test_job_not_due_is_not_claimed(engine: Engine) -> None:
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        jobs.enqueue(session, kind="k", key="later", now=T0, run_after=T0 + timedelta(hours=1))
    with transaction(sessions) as session:
        assert jobs.claim(session, worker_id="w", now=T0, lease=LEASE) == []
    with transaction(sessions) as session:
        assert (
            len(jobs.claim(session, worker_id="w", now=T0 + timedelta(hours=1), lease=LEASE)) == 1
        )


def test_k_concurrent_workers_run_every_job_exactly_once(ctx: AppContext) -> None:
    _enqueue(ctx.engine, 120)
    runs: Counter[int] = Counter()
    lock = threading.Lock()

    def handler(_ctx: AppContext, job: ClaimedJob, _now: datetime) -> None:
        with lock:
            runs[job.payload["i"]] += 1

    def work(name: str) -> None:
        run_due_jobs(ctx, {"test": handler}, now=T0, worker_id=name)

    threads = [threading.Thread(target=work, args=(f"w{k}",)) for k in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(runs) == list(range(120))
    assert set(runs.values()) == {1}
    assert {j.state for j in _all_jobs(ctx.engine)} == {"done"}


def test_expired_lease_is_claimed_again_and_the_late_worker_cannot_complete(
    engine: Engine,
) -> None:
    _enqueue(engine, 1)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        (first,) = jobs.claim(session, worker_id="dies", now=T0, lease=LEASE)
    with transaction(sessions) as session:  # within the lease: nobody else gets it
        assert (
            jobs.claim(session, worker_id="other", now=T0 + timedelta(minutes=4), lease=LEASE) == []
        )
    later = T0 + timedelta(minutes=6)
    with transaction(sessions) as session:
        (second,) = jobs.claim(session, worker_id="other", now=later, lease=LEASE)
    assert second.id == first.id and second.attempts == 2
    with transaction(sessions) as session:
        assert not jobs.complete(session, first, now=later)  # the dead worker woke up: ignored
        assert jobs.complete(session, second, now=later)
    (job,) = _all_jobs(engine)
    assert job.state == "done" and job.locked_by == "other"


def test_lease_expiry_with_no_attempts_left_marks_dead(engine: Engine) -> None:
    _enqueue(engine, 1, max_attempts=1)
    sessions = make_session_factory(engine)
    with transaction(sessions) as session:
        jobs.claim(session, worker_id="dies", now=T0, lease=LEASE)
    with transaction(sessions) as session:
        assert jobs.claim(session, worker_id="w", now=T0 + timedelta(hours=1), lease=LEASE) == []
    (job,) = _all_jobs(engine)
    assert job.state == "dead"
    assert "lease held by dies expired" in (job.last_error or "")


def test_retryable_failure_backs_off_then_dies_and_stays_listed(ctx: AppContext) -> None:
    _enqueue(ctx.engine, 1, kind="flaky", max_attempts=3)

    def handler(_ctx: AppContext, _job: ClaimedJob, _now: datetime) -> None:
        raise RetryableJobError("HTTP 503 from tracker")

    assert run_due_jobs(ctx, {"flaky": handler}, now=T0) == 1
    (job,) = _all_jobs(ctx.engine)
    assert job.state == "queued" and job.attempts == 1
    assert T0 + timedelta(seconds=8) <= job.run_after <= T0 + timedelta(seconds=12)
    assert run_due_jobs(ctx, {"flaky": handler}, now=T0) == 0  # not due yet at the same now
    t = T0
    for _ in range(2):
        t = t + timedelta(hours=2)
        run_due_jobs(ctx, {"flaky": handler}, now=t)
    (job,) = _all_jobs(ctx.engine)
    assert job.state == "dead" and job.attempts == 3
    assert job.last_error == "gave up after 3 attempts: HTTP 503 from tracker"
    with ctx.sessions() as session:
        assert [j.id for j in jobs.list_jobs(session, state="dead")] == [job.id]
        assert jobs.counts_by_state(session) == {"dead": 1}
    with transaction(ctx.sessions) as session:
        assert jobs.retry_dead(session, job_id=job.id, now=t)
    (job,) = _all_jobs(ctx.engine)
    assert job.state == "queued" and job.attempts == 0


def test_retry_after_from_the_server_is_honoured(ctx: AppContext) -> None:
    _enqueue(ctx.engine, 1, kind="limited")

    def handler(_ctx: AppContext, _job: ClaimedJob, _now: datetime) -> None:
        raise RetryableJobError("429", retry_after=timedelta(seconds=120))

    run_due_jobs(ctx, {"limited": handler}, now=T0)
    (job,) = _all_jobs(ctx.engine)
    assert job.run_after >= T0 + timedelta(seconds=120)


def test_permanent_error_and_unknown_kind_go_dead_at_once(ctx: AppContext) -> None:
    _enqueue(ctx.engine, 1, kind="bad")
    _enqueue(ctx.engine, 1, kind="nobody-handles-this")

    def handler(_ctx: AppContext, _job: ClaimedJob, _now: datetime) -> None:
        raise PermanentJobError("HTTP 400: field 'duedate' cannot be set")

    run_due_jobs(ctx, {"bad": handler}, now=T0)
    errors = {j.kind: (j.state, j.attempts, j.last_error) for j in _all_jobs(ctx.engine)}
    assert errors["bad"] == ("dead", 1, "HTTP 400: field 'duedate' cannot be set")
    assert errors["nobody-handles-this"] == (
        "dead",
        1,
        "no handler for job kind 'nobody-handles-this'",
    )


def test_handler_bug_is_recorded_not_raised(ctx: AppContext) -> None:
    _enqueue(ctx.engine, 1, kind="buggy")

    def handler(_ctx: AppContext, _job: ClaimedJob, _now: datetime) -> None:
        raise KeyError("missing")

    assert run_due_jobs(ctx, {"buggy": handler}, now=T0) == 1
    (job,) = _all_jobs(ctx.engine)
    assert job.state == "queued" and job.last_error == "KeyError: 'missing'"


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, rng=rng).total_seconds() for n in range(1, 16)]
    assert 8 <= delays[0] <= 12 and 16 <= delays[1] <= 24 and 32 <= delays[2] <= 48
    assert max(delays) <= 3600 * 1.2
    assert retry_delay(1, retry_after=timedelta(days=5), rng=rng) == timedelta(hours=6)
