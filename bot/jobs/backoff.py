"""Pure retry arithmetic for the job queue."""

from __future__ import annotations

import random
from datetime import timedelta

BASE_DELAY = timedelta(seconds=10)
MAX_DELAY = timedelta(hours=1)
MAX_RETRY_AFTER = timedelta(hours=6)


def backoff_delay(attempt: int, *, rng: random.Random | None = None) -> timedelta:
    """Exponential backoff (10 s, 20 s, 40 s, … capped at 1 h) with ±20 % jitter.

    The jitter spreads retries of jobs that failed together (a tracker outage) so they do
    not all come back in the same second.
    """
    exponent = max(0, attempt - 1)
    seconds = min(MAX_DELAY.total_seconds(), BASE_DELAY.total_seconds() * 2**exponent)
    jitter = (rng or random).uniform(0.8, 1.2)
    return timedelta(seconds=seconds * jitter)


def retry_delay(
    attempt: int, *, retry_after: timedelta | None, rng: random.Random | None = None
) -> timedelta:
    """A server's Retry-After wins when it is longer than our own backoff; both are bounded."""
    delay = backoff_delay(attempt, rng=rng)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay
