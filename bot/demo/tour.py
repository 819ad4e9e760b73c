"""``slabot demo``: the whole flow on the embedded defaults, on a simulated clock.

Everything is real — the parser, the policy, the event log, the job queue, the console
notifier, the local tracker and evidence folder — only time is simulated, so five weeks of
reminders, an approved exception and a weekly snapshot fit in a few seconds.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from bot.acceptances.service import decide, request_acceptance
from bot.bootstrap import build_context
from bot.clock.schedule import tick
from bot.context import AppContext
from bot.database.core import transaction
from bot.events.service import verify
from bot.ingest.body import Body
from bot.ingest.service import ingest
from bot.kev.flows import load_catalog
from bot.policy import local_date
from bot.registry import job_handlers, schedulers
from bot.settings import Settings
from bot.snapshots.evidence_week import regenerate_week
from bot.snapshots.service import write_snapshot
from bot.snapshots.weeks import IsoWeek
from bot.tickets.local import set_local_status
from bot.tickets.models import Ticket
from bot.tickets.serialize import list_tickets, outcome_of
from integrations.kev import parse_catalog
from integrations.slack import ConsoleNotifier

START = datetime(2026, 3, 2, 9, 5, tzinfo=UTC)  # a Monday, the sample scan's day
ENGINEER, LEAD = "UENGINEER", "ULEAD"

Say = Callable[[str], None]


def _data(name: str) -> bytes:
    return files("bot.demo").joinpath(name).read_bytes()


def _context(directory: Path) -> AppContext:
    settings = Settings(
        database_url=f"sqlite:///{directory / 'demo.db'}",
        evidence_url=f"file://{directory / 'evidence'}",
        slack_approvers=LEAD,
        kev_file=None,
        kev_url="http://127.0.0.1:9/offline-demo.json",
        kev_mirror_url=None,
        _env_file=None,
    )
    ctx = build_context(settings, migrate=True)
    ctx.services["notifier"] = ConsoleNotifier()
    return ctx


def _ticket_lines(ctx: AppContext, now: datetime) -> list[str]:
    today = local_date(now, ctx.tz)
    with ctx.sessions() as session:
        tickets = list_tickets(session)
    return [
        f"  #{t.id} {t.severity:<8}{' KEV' if t.kev else '    '} {t.status:<13} due "
        f"{t.due_date} ({outcome_of(t, today=today, tz=ctx.tz)})  {t.title[:60]}"
        for t in tickets
    ]


def _ticket(ctx: AppContext, template: str) -> Ticket:
    with ctx.sessions() as session:
        for ticket in list_tickets(session):
            if ticket.template_id == template:
                return ticket
    raise LookupError(template)


def _sent_since(notifier: ConsoleNotifier, start: int) -> list[str]:
    return [f"  [{r.kind} {r.channel or r.user}] {r.text[:110]}" for r in notifier.sent[start:]]


def run_tour(directory: Path, say: Say) -> int:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    ctx = _context(directory)
    notifier = ctx.services["notifier"]
    assert isinstance(notifier, ConsoleNotifier)
    handlers, items = job_handlers(), schedulers()
    now = START
    say(f"slabot demo in {directory} — simulated clock starts {now:%a %Y-%m-%d %H:%M} UTC")
    say(f"policy: {ctx.policy.name} (critical 30 / high 60 / medium 90 days)\n")

    catalog = parse_catalog(_data("kev-sample.json"), source="kev-sample.json")
    with transaction(ctx.sessions) as session:
        load_catalog(ctx, session, catalog, now=now)
    say(f"1. loaded KEV catalog {catalog.catalog_version} ({catalog.count} CVEs)")

    scan = _data("sample-scan.jsonl")
    summary = ingest(ctx, Body.from_chunks([scan]), source="cli", target=None, now=now)
    say(f"2. ingested a Nuclei scan: {summary.as_dict()}")
    for line in _ticket_lines(ctx, now):
        say(line)

    sent = len(notifier.sent)
    report = tick(ctx, items, handlers, now=now)
    say(f"\n3. tick: {report.ran} jobs ran; the console notifier sent:")
    for line in _sent_since(notifier, sent):
        say(line)

    again = ingest(
        ctx, Body.from_chunks([scan]), source="cli", target=None, now=now + timedelta(days=1)
    )
    say(
        f"\n4. the same scan a day later: {again.new} new, {again.duplicate} duplicate, "
        f"{again.tickets_opened} tickets opened — no duplicate tickets"
    )

    later = now + timedelta(days=3)
    with transaction(ctx.sessions) as session:
        git = session.get(Ticket, _ticket(ctx, "exposed-git-config").id)
        assert git is not None
        set_local_status(
            session, git, status="resolved", now=later, actor="demo", resolution="Done"
        )
    say(f"5. engineer resolved #{git.id} in the local tracker ({later:%Y-%m-%d})")

    grafana = _ticket(ctx, "default-login-grafana")
    with transaction(ctx.sessions) as session:
        ticket = session.get(Ticket, grafana.id)
        assert ticket is not None
        request = request_acceptance(
            ctx,
            session,
            ticket=ticket,
            user_id=ENGINEER,
            user_name="engineer",
            justification="Grafana is only reachable over the VPN; replacement lands next sprint.",
            expires_on=date(2026, 3, 25),
            controls="VPN-only access, login alerting",
            now=later,
        )
    with transaction(ctx.sessions) as session:
        decide(
            ctx,
            session,
            request_id=request.id,
            decision="approved",
            user_id=LEAD,
            user_name="security lead",
            now=later + timedelta(hours=1),
        )
    say(
        f"6. risk acceptance #{request.id} for #{grafana.id} requested by {ENGINEER}, "
        f"approved by {LEAD} until 2026-03-25"
    )

    sent = len(notifier.sent)
    day = now
    for _ in range(40):
        day += timedelta(days=1)
        tick(ctx, items, handlers, now=day)
    say(
        f"\n7. forty simulated days of clock ticks to {day:%Y-%m-%d}: "
        f"{len(notifier.sent) - sent} Slack messages (reminders, escalations, expiry, "
        "weekly snapshot summaries); the last few:"
    )
    for line in _sent_since(notifier, len(notifier.sent) - 5):
        say(line)
    for line in _ticket_lines(ctx, day):
        say(line)

    week = IsoWeek.of(START.date())
    snapshot = write_snapshot(ctx, week=week, now=day)
    say(f"\n8. weekly snapshot {week.label}: {snapshot.uri}\n   headline {snapshot.headline}")
    out = directory / f"evidence-{week.label}"
    rebuilt = regenerate_week(ctx, week=week, out_dir=out, now=day)
    verdict = {True: "matches the stored snapshot", False: "DIFFERS", None: "no snapshot"}
    say(
        f"9. evidence week {week.label} rebuilt from the event log into {out}: "
        f"{len(rebuilt.files)} files, {rebuilt.events} events, "
        f"{verdict[rebuilt.comparison['matches']]}"
    )

    with ctx.sessions() as session:
        chain = verify(session)
    say(
        f"10. event log: {'OK' if chain.ok else 'BROKEN'}, {chain.checked} events, "
        f"head {chain.head_seq} {chain.head_hash[:16]}…"
    )
    say(f"\nDone. Inspect it: SLABOT_DATABASE_URL=sqlite:///{directory / 'demo.db'} slabot tickets")
    ctx.close()
    return 0 if chain.ok else 1
