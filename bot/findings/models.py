"""Findings (one per fingerprint), their occurrences per scan, and their CVE index."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from bot.database.core import Base
from bot.database.types import JsonType, UtcDateTime


class Finding(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    grouping_key: Mapped[str] = mapped_column(String(64), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"), index=True)
    template_id: Mapped[str] = mapped_column(String(512))
    name: Mapped[str] = mapped_column(Text)
    asset: Mapped[str] = mapped_column(String(2048))
    matcher_name: Mapped[str] = mapped_column(String(512), default="")
    protocol: Mapped[str] = mapped_column(String(32), default="")
    reported_severity: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    cve_ids: Mapped[list[str]] = mapped_column(JsonType, default=list)
    kev: Mapped[bool] = mapped_column(Boolean, default=False)
    kev_date_added: Mapped[date | None] = mapped_column(Date)
    kev_due_date: Mapped[date | None] = mapped_column(Date)
    kev_ransomware: Mapped[bool | None] = mapped_column(Boolean)
    kev_catalog_version: Mapped[str | None] = mapped_column(String(64))
    kev_delisted: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | resolved
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    clock_started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    due_date: Mapped[date | None] = mapped_column(Date)
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    last_scan_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))
    # Redacted, display-safe evidence (matched-at, references, extracted results, request excerpt).
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class FindingCve(Base):
    """One row per (finding, CVE): lets a new KEV catalog reach open findings in one join."""

    __tablename__ = "finding_cves"

    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), primary_key=True)
    cve_id: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_finding_cves_cve_id", "cve_id"),)


class Occurrence(Base):
    """A finding seen in a scan (at most one row per finding per scan)."""

    __tablename__ = "occurrences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"))
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    matched_at: Mapped[str | None] = mapped_column(String(4096))

    __table_args__ = (UniqueConstraint("finding_id", "scan_id"),)
