"""Risk acceptances: a formally approved, expiring exception to a ticket's SLA."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.database.core import Base
from bot.database.types import UtcDateTime


class RiskAcceptance(Base):
    __tablename__ = "risk_acceptances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # pending|approved|rejected|expired
    requested_by: Mapped[str] = mapped_column(String(64))
    requested_by_name: Mapped[str | None] = mapped_column(String(256))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    justification: Mapped[str] = mapped_column(Text)
    compensating_controls: Mapped[str | None] = mapped_column(Text)
    expires_on: Mapped[date] = mapped_column(Date)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_by_name: Mapped[str | None] = mapped_column(String(256))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    approval_channel: Mapped[str | None] = mapped_column(String(64))
    approval_ts: Mapped[str | None] = mapped_column(String(32))
    warned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_risk_acceptances_status_expires_on", "status", "expires_on"),)
