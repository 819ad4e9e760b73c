"""Database, event-log and job-queue maintenance commands."""

from __future__ import annotations

import typer

from bot.cli.common import open_context, parse_now, print_json, settings_or_exit

db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
jobs_app = typer.Typer(help="The job queue (outbox).", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply every alembic migration up to head."""
    from bot.database.core import make_engine
    from bot.database.migrations import current_revision, upgrade

    settings = settings_or_exit()
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


@jobs_app.command("list")
def jobs_list(
    state: str | None = typer.Option(None, help="queued, running, done or dead"),
    limit: int = typer.Option(50, min=1, max=10_000),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List jobs, newest first (dead jobs stay here until retried)."""
    from bot.database.core import read_only
    from bot.jobs import service as jobs

    with open_context() as ctx, read_only(ctx.sessions) as session:
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
    from bot.database.core import transaction
    from bot.jobs import service as jobs

    at = parse_now(now)
    with open_context() as ctx, transaction(ctx.sessions) as session:
        if not jobs.retry_dead(session, job_id=job_id, now=at):
            typer.echo(f"error: job {job_id} is not dead (or does not exist)", err=True)
            raise typer.Exit(1)
    typer.echo(f"job {job_id} queued again")
