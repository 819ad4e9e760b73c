"""How a job handler tells the queue what went wrong."""

from __future__ import annotations

from datetime import timedelta


class JobError(Exception):
    """Base class; a plain exception from a handler is treated as retryable."""


class RetryableJobError(JobError):
    """Transient (5xx, timeout, rate limit): try again, no sooner than ``retry_after``."""

    def __init__(self, message: str, *, retry_after: timedelta | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentJobError(JobError):
    """Retrying cannot fix it (a 4xx the remote will always answer): the job goes dead."""
