"""The reminder sweep reads only the due tickets, through the next-reminder index."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, insert, select, text

from bot.context import AppContext
from bot.database.core import transaction
from bot.jobs.models import Job
from bot.notifications.reminders import schedule_reminders
from bot.tickets.models import Ticket


def test_sweep_touches_only_due_tickets_via_the_index(ctx: AppContext, now) -> None:  # type: ignore[no-untyped-def]
    def ticket(i: int, next_at):  # type: ignore[no-untyped-def]
        return {
            "grouping_key": f"g{i}",
            "title": f"t{i}",
            "template_id": "tpl",
            "asset": "https://a",
            "severity": "high",
            "reported_severity": "high",
            "kev": False,
            "cve_ids": [],
            "status": "open",
            "due_date": (now + timedelta(days=60)).date(),
            "opened_at": now - timedelta(days=1),
            "clock_started_at": now - timedelta(days=1),
            "status_changed_at": now - timedelta(days=1),
            "tracker": "local",
            "next_reminder_at": next_at,
        }

    rows = [ticket(i, now + timedelta(days=3)) for i in range(2000)]
    rows += [ticket(2000 + i, now - timedelta(minutes=5)) for i in range(3)]
    with transaction(ctx.sessions) as session:
        session.execute(insert(Ticket), rows)
    with transaction(ctx.sessions) as session:
        schedule_reminders(ctx, session, now)
    with ctx.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 3
        moved = session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.next_reminder_at <= now)
        )
    assert moved == 0  # each due ticket got its next slot
    sql = (
        "SELECT id FROM tickets WHERE next_reminder_at <= :now ORDER BY next_reminder_at LIMIT 1000"
    )
    with ctx.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            plan = conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"), {"now": "2026-03-02"}).all()
        else:
            conn.execute(text("SET enable_seqscan = off"))
            plan = conn.execute(text(f"EXPLAIN {sql}"), {"now": now}).all()
    assert any("ix_tickets_next_reminder_at" in str(row) for row in plan), plan
