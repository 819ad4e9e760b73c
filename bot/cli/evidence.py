"""``slabot snapshot``, ``slabot evidence week`` and the anchored ``evidence verify``.

Plain functions; the lead registers them on the typer apps (see bot/cli/features.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli.common import fail, open_context, parse_now, print_json

if TYPE_CHECKING:
    from bot.snapshots.weeks import IsoWeek


def _week(value: str, option: str) -> IsoWeek:
    from bot.snapshots.weeks import IsoWeek, WeekFormatError

    try:
        return IsoWeek.parse(value)
    except WeekFormatError as exc:
        fail(f"{option}: {exc}", 2)


def snapshot_command(
    week: str | None = typer.Option(
        None, "--week", help="ISO week YYYY-Www (default: the week before --now)"
    ),
    now: str | None = typer.Option(None, "--now", help="ISO time (default: now)"),
    upload: bool = typer.Option(
        False, "--upload", help="write to the evidence store and record it (once per week)"
    ),
    out: Path = typer.Option(
        Path("."), "--out", help="directory for the local copy (without --upload)"
    ),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Build the weekly SLA snapshot: locally (prints the document), or --upload it."""
    from bot.database.core import read_only
    from bot.snapshots.document import build_snapshot, file_name
    from bot.snapshots.service import SnapshotError, write_snapshot
    from bot.snapshots.weeks import IsoWeek
    from integrations.evidence import EvidenceStoreError

    at = parse_now(now)
    target = _week(week, "--week") if week is not None else IsoWeek.previous_of(at)
    with open_context() as ctx:
        if upload:
            try:
                result = write_snapshot(ctx, week=target, now=at)
            except SnapshotError as exc:
                fail(str(exc), 1)
            except EvidenceStoreError as exc:
                fail(f"evidence store: {exc}", 1)
            if json_out:
                print_json(result.as_json())
            else:
                state = "written" if result.created else "already written"
                typer.echo(f"{result.uri} ({state}; csv {result.csv_uri})")
            return
        with read_only(ctx.sessions) as session:
            doc = build_snapshot(session, week=target, policy=ctx.policy, tz=ctx.tz, now=at)
    if at < target.end:
        typer.echo(f"warning: week {target.label} is not over yet (partial snapshot)", err=True)
    out.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = out / file_name(target, "json"), out / file_name(target, "csv")
    json_path.write_bytes(doc.json_bytes())
    csv_path.write_bytes(doc.csv_bytes())
    if json_out:
        print_json(doc.data)
        return
    head = doc.headline
    typer.echo(f"{json_path}\n{csv_path}")
    typer.echo(
        f"{target.label}: {head['tickets']} tickets, "
        f"{head['overdue_without_exception']} overdue without exception, "
        f"{head['active_exceptions']} active exceptions, {head['kev_tickets']} KEV, "
        f"{head['scans_received']} scans, {head['cadence_gaps']} cadence gaps"
    )


def evidence_week_command(
    week: str = typer.Argument(..., help="ISO week YYYY-Www, e.g. 2026-W10"),
    out: Path | None = typer.Option(None, "--out", help="default ./evidence-YYYY-Www"),
    now: str | None = typer.Option(None, "--now", help="generated_at of the rebuild"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """Regenerate, from the event log alone, the evidence for a sampled week."""
    from bot.snapshots.evidence_week import regenerate_week

    target = _week(week, "WEEK")
    at = parse_now(now)
    directory = out if out is not None else Path(f"evidence-{target.label}")
    with open_context() as ctx:
        result = regenerate_week(ctx, week=target, out_dir=directory, now=at)
    if json_out:
        print_json(result.as_json())
        return
    typer.echo(f"{directory}: {len(result.files)} files, {result.events} events")
    for name in result.files:
        typer.echo(f"  {name}")
    matches = result.comparison["matches"]
    if matches is None:
        typer.echo(f"no snapshot was stored for {target.label}: nothing to compare")
    elif matches:
        typer.echo(f"matches the stored snapshot {result.comparison['stored']['uri']}")
    else:
        n = len(result.comparison.get("differences", []))
        typer.echo(f"DIFFERS from the stored snapshot ({n} differences): see comparison.json")
    if result.raw_scans_missing:
        typer.echo(f"warning: {result.raw_scans_missing} raw scan artifact(s) missing", err=True)


def verify_anchored(json_out: bool = typer.Option(False, "--json")) -> None:
    """Check the event log's hash chain and every snapshot's anchored head; exit 1 on a problem."""
    from bot.database.core import read_only
    from bot.snapshots.anchoring import verify_with_anchors

    with open_context() as ctx, read_only(ctx.sessions) as session:
        report = verify_with_anchors(session)
    if json_out:
        print_json(report.as_json())
    elif report.ok:
        chain = report.chain
        typer.echo(
            f"OK: {chain.checked} events, head seq {chain.head_seq} hash {chain.head_hash}; "
            f"{report.anchors_checked} snapshot anchors match"
        )
    else:
        for line in report.messages():
            typer.echo(f"BROKEN: {line}", err=True)
    if not report.ok:
        raise typer.Exit(1)
