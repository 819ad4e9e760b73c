"""The clock: scheduled work as idempotent enqueues, and ``tick`` (clock + worker, once).

Each scheduler looks at ``now`` and enqueues the jobs that are due with a key naming the slot
(``kev-refresh:2026-11-27``, ``reminder:17:2026-11-27T09``…), so a second clock — or a second
pass at the same ``now`` — inserts nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from bot.context import AppContext
from bot.database.core import transaction
from bot.jobs.runner import Handler, run_due_jobs

log = logging.getLogger(__name__)

Scheduler = Callable[[AppContext, Session, datetime], int]


@dataclass(frozen=True, slots=True)
class TickReport:
    enqueued: int
    ran: int


def run_schedulers(ctx: AppContext, schedulers: Sequence[Scheduler], *, now: datetime) -> int:
    """One clock pass: every scheduler in its own transaction, so one failing cannot block
    the others (a broken KEV feed must not stop reminders)."""
    enqueued = 0
    for scheduler in schedulers:
        try:
            with transaction(ctx.sessions) as session:
                enqueued += scheduler(ctx, session, now)
        except Exception:
            log.exception("scheduler %s failed", getattr(scheduler, "__name__", scheduler))
    return enqueued


def tick(
    ctx: AppContext,
    schedulers: Sequence[Scheduler],
    handlers: Mapping[str, Handler],
    *,
    now: datetime,
) -> TickReport:
    enqueued = run_schedulers(ctx, schedulers, now=now)
    ran = run_due_jobs(ctx, handlers, now=now)
    return TickReport(enqueued=enqueued, ran=ran)
