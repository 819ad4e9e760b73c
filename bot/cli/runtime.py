"""Long-running processes: web, worker, clock; and ``tick`` for simulations and cron."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import typer

from bot.cli.common import open_context, parse_now, print_json, settings_or_exit

log = logging.getLogger("slabot")


def _stop_on_signals() -> threading.Event:
    """SIGTERM/SIGINT finish the current job or pass, then the loop exits cleanly."""
    stop = threading.Event()

    def _handler(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: stopping after the current step", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
    return stop


def serve(
    host: str = typer.Option("127.0.0.1", help="interface to bind"),
    port: int = typer.Option(8000, help="TCP port"),
) -> None:
    """Run the web process (webhooks, Slack, API, /healthz, /readyz, /metrics)."""
    import uvicorn

    from bot.web.app import create_app

    settings = settings_or_exit()
    with open_context(migrate=settings.is_sqlite) as ctx:
        problems = ctx.evidence.check()
        for problem in problems:
            log.warning("evidence store: %s", problem)
        uvicorn.run(create_app(ctx), host=host, port=port, log_level="info")


def worker() -> None:
    """Claim and run queued jobs until SIGTERM."""
    stop = _stop_on_signals()
    from bot.jobs.runner import default_worker_id, run_due_jobs
    from bot.registry import job_handlers

    with open_context() as ctx:
        handlers = job_handlers()
        worker_id = default_worker_id()
        log.info("worker %s started", worker_id)
        while not stop.is_set():
            ran = run_due_jobs(ctx, handlers, now=ctx.clock(), worker_id=worker_id, max_jobs=50)
            if ran == 0:
                stop.wait(ctx.settings.worker_poll_seconds)
        log.info("worker %s stopped", worker_id)


def clock() -> None:
    """Enqueue scheduled work (reminders, KEV refresh, expiries, snapshots) until SIGTERM."""
    stop = _stop_on_signals()
    from bot.clock.schedule import run_schedulers
    from bot.registry import schedulers

    with open_context() as ctx:
        items = schedulers()
        log.info("clock started with %d scheduled item kinds", len(items))
        while not stop.is_set():
            run_schedulers(ctx, items, now=ctx.clock())
            stop.wait(ctx.settings.clock_interval_seconds)
        log.info("clock stopped")


def tick_command(
    now: str | None = typer.Option(None, "--now", help="ISO time to act as (default: now)"),
    json_out: bool = typer.Option(False, "--json", help="machine-readable output"),
) -> None:
    """Run all due scheduled work and all queued jobs once, as of --now."""
    from bot.clock.schedule import tick
    from bot.registry import job_handlers, schedulers

    at = parse_now(now)
    with open_context() as ctx:
        ctx.clock = lambda: at
        report = tick(ctx, schedulers(), job_handlers(), now=at)
    if json_out:
        print_json({"now": at, "enqueued": report.enqueued, "ran": report.ran})
    else:
        typer.echo(f"tick at {at.isoformat()}: enqueued {report.enqueued}, ran {report.ran} jobs")
