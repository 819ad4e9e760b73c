"""Which job kinds and scheduled items exist. Features register here as they land."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.clock.schedule import Scheduler
from bot.jobs.runner import Handler


def job_handlers() -> Mapping[str, Handler]:
    return {}


def schedulers() -> Sequence[Scheduler]:
    return []
