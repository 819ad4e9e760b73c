"""``slabot tickets`` and ``slabot ticket``."""

from __future__ import annotations

import getpass

import typer

from bot.cli.common import fail, open_context, parse_now, print_json


def tickets_command(
    status: str | None = typer.Option(None, "--status", help="open, in_progress, resolved, …"),
    now: str | None = typer.Option(None, "--now", help="ISO time for SLA outcomes"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """List tickets with their SLA outcome and due date."""
    from bot.database.core import read_only
    from bot.policy import local_date
    from bot.tickets.serialize import finding_counts, list_tickets, ticket_json

    at = parse_now(now)
    with open_context() as ctx, read_only(ctx.sessions) as session:
        today = local_date(at, ctx.tz)
        tickets = list_tickets(session, status=status)
        counts = finding_counts(session, [t.id for t in tickets])
        items = [
            ticket_json(t, today=today, tz=ctx.tz, finding_count=counts.get(t.id, 0))
            for t in tickets
        ]
    if json_out:
        print_json(items)
        return
    if not items:
        typer.echo("no tickets")
    for item in items:
        kev = " KEV" if item["kev"] else ""
        typer.echo(
            f"#{item['id']:<5} {item['severity']:<8}{kev:<4} {item['status']:<13} "
            f"due {item['due_date'] or '-':<10} {item['sla_outcome']:<10} {item['title']}"
        )


def ticket_command(
    ticket_id: int = typer.Argument(..., help="ticket id"),
    set_status: str | None = typer.Option(
        None, "--set-status", help="local tracker only: open, in_progress or resolved"
    ),
    resolution: str | None = typer.Option(
        None, "--resolution", help='with --set-status resolved, e.g. Done or "Won\'t Fix"'
    ),
    now: str | None = typer.Option(None, "--now"),
    json_out: bool = typer.Option(False, "--json"),
) -> None:
    """One ticket with its findings and its event history (or change a local ticket's status)."""
    from bot.database.core import read_only, transaction
    from bot.policy import local_date
    from bot.tickets.local import LocalTrackerError, set_local_status
    from bot.tickets.models import Ticket
    from bot.tickets.serialize import ticket_detail_json

    at = parse_now(now)
    with open_context() as ctx:
        if set_status is not None:
            with transaction(ctx.sessions) as session:
                ticket = session.get(Ticket, ticket_id)
                if ticket is None:
                    fail(f"no ticket {ticket_id}", 1)
                try:
                    set_local_status(
                        session,
                        ticket,
                        status=set_status,
                        now=at,
                        actor=f"cli:{getpass.getuser()}",
                        resolution=resolution,
                    )
                except LocalTrackerError as exc:
                    fail(str(exc), 1)
        with read_only(ctx.sessions) as session:
            ticket = session.get(Ticket, ticket_id)
            if ticket is None:
                fail(f"no ticket {ticket_id}", 1)
            detail = ticket_detail_json(session, ticket, today=local_date(at, ctx.tz), tz=ctx.tz)
    if json_out:
        print_json(detail)
        return
    typer.echo(f"#{detail['id']} {detail['title']}")
    typer.echo(
        f"  severity {detail['severity']} (reported {detail['reported_severity']})"
        f"{'  KEV ' + ','.join(detail['cve_ids']) if detail['kev'] else ''}"
    )
    typer.echo(
        f"  status {detail['status']}  due {detail['due_date']}  SLA {detail['sla_outcome']}  "
        f"tracker {detail['tracker']} {detail['external_key'] or ''}"
    )
    typer.echo(f"  findings: {len(detail['findings'])}")
    for event in detail["events"]:
        change = f" {event['from'] or ''}→{event['to']}" if event["to"] else ""
        typer.echo(f"  {event['seq']:>6} {event['at']} {event['kind']}{change} ({event['source']})")
