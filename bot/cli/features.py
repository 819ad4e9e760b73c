"""Feature commands (ingest, tickets, KEV, snapshots, demo) attached to the main app."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.cli import evidence, ingest, tickets


def register(app: typer.Typer, *, evidence_app: typer.Typer, kev_app: typer.Typer) -> None:
    app.command("ingest")(ingest.ingest_command)
    app.command("tickets")(tickets.tickets_command)
    app.command("ticket")(tickets.ticket_command)
    kev_app.command("load")(ingest.kev_load)
    kev_app.command("refresh")(ingest.kev_refresh)
    app.command("snapshot")(evidence.snapshot_command)
    evidence_app.command("week")(evidence.evidence_week_command)
    evidence_app.command("verify")(evidence.verify_anchored)
    app.command("demo")(demo_command)


def demo_command(
    directory: Path = typer.Option(Path("slabot-demo"), "--dir", help="demo folder (replaced)"),
) -> None:
    """A self-contained tour on the embedded defaults: sample scan, KEV, local tracker, console
    Slack, risk acceptance, reminders over simulated weeks, a snapshot and its evidence."""
    from bot.demo.tour import run_tour

    raise typer.Exit(run_tour(directory.resolve(), typer.echo))
