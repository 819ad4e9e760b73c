"""``slabot ingest`` and the KEV catalog commands."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from bot.cli.common import fail, open_context, parse_now, print_json, settings_or_exit

if TYPE_CHECKING:
    from datetime import datetime

    from bot.context import AppContext
    from bot.ingest.body import Body, FileBody
    from bot.ingest.parallel import ForkedIngest
    from bot.ingest.service import IngestSummary


def ingest_command(
    file: str = typer.Argument(..., help="Nuclei output file (any shape), or - for stdin"),
    target: str | None = typer.Option(None, "--target", help="declared scan target"),
    now: str | None = typer.Option(None, "--now", help="ISO time to act as"),
    json_out: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Ingest a Nuclei output file: JSON array, JSONL, one object, envelope or HEC."""
    from bot.ingest.body import Body, FileBody

    at = parse_now(now)
    forked = None
    if file == "-":
        body: Body = Body.from_chunks(iter(lambda: sys.stdin.buffer.read(1 << 20), b""))
    else:
        path = Path(file)
        if not path.exists():
            fail(f"no such file: {file} (a missing file is not an empty scan)", 2)
        if not path.is_file():
            fail(f"not a regular file: {file}", 2)
        body = file_body = FileBody(path)
        forked = _start_children(file_body, target=target, now=at)
    # Loading the database code takes a while: a large file is already being parsed meanwhile.
    from bot.ingest.forked import settled_heap
    from bot.ingest.service import EvidenceUnavailableError, IngestRejectedError

    with forked or contextlib.nullcontext(), open_context() as ctx, body, settled_heap():
        try:
            summary = _run_with_progress(
                ctx, body, target=target, now=at, show=not json_out, forked=forked
            )
        except IngestRejectedError as exc:
            typer.echo(f"error: invalid Nuclei results in {file}: nothing was stored", err=True)
            for problem in exc.problems:
                typer.echo(f"  {problem}", err=True)
            raise typer.Exit(1) from None
        except EvidenceUnavailableError as exc:
            fail(str(exc))
    if json_out:
        print_json(summary.as_dict())
    else:
        s = summary
        typer.echo(
            f"scan {s.scan_id}: {s.findings} findings ({s.new} new, {s.duplicate} duplicate, "
            f"{s.reopened} reopened), {s.escalated_kev} escalated by KEV, "
            f"{s.tickets_opened} tickets opened, {s.ignored} ignored"
        )


def _start_children(body: FileBody, *, target: str | None, now: datetime) -> ForkedIngest | None:
    """A large file is parsed and retained by forked children (:mod:`bot.ingest.parallel`),
    started now, before this process loads its database code."""
    from bot.ingest.parallel import ForkedIngest, worth_forking

    if not worth_forking(body):
        return None
    return ForkedIngest(body, settings=settings_or_exit(), target=target, now=now)


def _run_with_progress(
    ctx: AppContext,
    body: Body,
    *,
    target: str | None,
    now: datetime,
    show: bool,
    forked: ForkedIngest | None,
) -> IngestSummary:
    from bot.ingest.service import ingest

    if not (show and sys.stderr.isatty()):
        return ingest(ctx, body, source="cli", target=target, now=now, forked=forked)
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        transient=True,
    ) as progress:
        task = progress.add_task("ingesting", total=body.size)
        return ingest(
            ctx,
            body,
            source="cli",
            target=target,
            now=now,
            on_bytes=lambda n: progress.advance(task, n),
            forked=forked,
        )


def kev_load(
    file: Path = typer.Argument(..., help="KEV catalog file (JSON or CSV)"),
    now: str | None = typer.Option(None, "--now"),
) -> None:
    """Load a KEV catalog file; a newer catalog escalates open tickets with added CVEs."""
    from bot.database.core import transaction
    from bot.kev.flows import _describe, load_catalog
    from integrations.kev import KevCatalogError, load_catalog_file

    at = parse_now(now)
    try:
        catalog = load_catalog_file(file)
    except (KevCatalogError, OSError) as exc:
        fail(str(exc), 2)

    with open_context() as ctx, transaction(ctx.sessions) as session:
        result = load_catalog(ctx, session, catalog, now=at)
    typer.echo(_describe(result))


def kev_refresh(now: str | None = typer.Option(None, "--now")) -> None:
    """Fetch the KEV feed now (falls back to the mirror; keeps the last good catalog)."""
    from bot.kev.flows import refresh_feed
    from integrations.kev import KevCatalogError, KevFeedError

    at = parse_now(now)
    with open_context() as ctx:
        try:
            typer.echo(refresh_feed(ctx, now=at))
        except (KevFeedError, KevCatalogError) as exc:
            fail(f"KEV refresh failed, the last good catalog is kept: {exc}")
