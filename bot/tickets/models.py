"""Tickets: the unit of remediation work, with its SLA due date and tracker identity."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.database.core import Base
from bot.database.types import JsonType, UtcDateTime

TICKET_STATES = ("open", "in_progress", "resolved", "risk_accepted", "resolved_unverified")


class Ticket(Base):
    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    grouping_key: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(Text)
    template_id: Mapped[str] = mapped_column(String(512))
    asset: Mapped[str] = mapped_column(String(2048))
    severity: Mapped[str] = mapped_column(String(16))
    reported_severity: Mapped[str] = mapped_column(String(16))
    kev: Mapped[bool] = mapped_column(Boolean, default=False)
    cve_ids: Mapped[list[str]] = mapped_column(JsonType, default=list)
    status: Mapped[str] = mapped_column(String(24), default="open")
    due_date: Mapped[date | None] = mapped_column(Date)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    clock_started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Source time of the last applied status change: older deliveries never move it backwards.
    status_changed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    tracker: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str | None] = mapped_column(String(128), index=True)
    external_key: Mapped[str | None] = mapped_column(String(128))
    external_url: Mapped[str | None] = mapped_column(String(2048))
    assignee_email: Mapped[str | None] = mapped_column(String(320))
    next_reminder_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_reminder_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    slack_channel: Mapped[str | None] = mapped_column(String(64))
    slack_thread_ts: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_tickets_next_reminder_at", "next_reminder_at"),
        Index("ix_tickets_status_due_date", "status", "due_date"),
    )
