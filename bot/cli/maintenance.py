"""Database, event-log and job-queue maintenance commands."""

from __future__ import annotations

import typer

from bot.cli.common import open_context, parse_now, print_json, settings_or_exit
from bot.database.core import make_engine, transaction
from bot.database.migrations import current_revision, upgrade
from bot.events import service as events
from bot.jobs import service as jobs

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
jobs_app = typer.Typer(help="The job queue (outbox).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every alembic migration up to head."""
    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


def verify_log(json_out: bool = typer.Option(False, "--json")) -> None:
    """Check the event log's hash chain; exit 1 naming the first broken row."""
    with open_context() as ctx, ctx.sessions() as session:
        report = events.verify(session)
    if json_out:
        print_json(
            {
                "ok": report.ok,
                "checked": report.checked,
                "head_seq": report.head_seq,
                "head_hash": report.head_hash,
                "broken": None
                if report.broken is None
                else {
                    "seq": report.broken.seq,
                    "problem": report.broken.problem,
                    "reason": report.broken.reason,
                },
            }
        )
    elif report.broken is None:
        typer.echo(
            f"OK: {report.checked} events, head seq {report.head_seq} hash {report.head_hash}"
        )
    else:
        typer.echo(
            f"BROKEN at seq {report.broken.seq} ({report.broken.problem}): {report.broken.reason}; "
            f"last good seq {report.head_seq} hash {report.head_hash}",
            err=True,
        )
    if not report.ok:
        raise typer.Exit(1)


@jobs_app.command("list")
def jobs_list(
    state: str | None = typer.Option(None, help="queued, running, done or dead"),
    limit: int = typer.Option(50, min=1, max=10_000),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List jobs, newest first (dead jobs stay here until retried)."""
    with open_context() as ctx, ctx.sessions() as session:
        rows = jobs.list_jobs(session, state=state, limit=limit)
        counts = jobs.counts_by_state(session)
    items = [
        {
            "id": j.id,
            "kind": j.kind,
            "key": j.idempotency_key,
            "state": j.state,
            "attempts": j.attempts,
            "max_attempts": j.max_attempts,
            "run_after": j.run_after,
            "last_error": j.last_error,
        }
        for j in rows
    ]
    if json_out:
        print_json({"counts": counts, "jobs": items})
        return
    typer.echo("  ".join(f"{k}={v}" for k, v in sorted(counts.items())) or "no jobs")
    for item in items:
        error = f"  {item['last_error']}" if item["last_error"] else ""
        typer.echo(
            f"#{item['id']} {item['state']:<7} {item['kind']} {item['key']} "
            f"attempts {item['attempts']}/{item['max_attempts']}{error}"
        )


@jobs_app.command("retry")
def jobs_retry(
    job_id: int = typer.Argument(..., help="id of a dead job"),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Give a dead job a fresh set of attempts."""
    at = parse_now(now)
    with open_context() as ctx, transaction(ctx.sessions) as session:
        if not jobs.retry_dead(session, job_id=job_id, now=at):
            typer.echo(f"error: job {job_id} is not dead (or does not exist)", err=True)
            raise typer.Exit(1)
    typer.echo(f"job {job_id} queued again")
