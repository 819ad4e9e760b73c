"""Findings (one per fingerprint) and their CVE index.

A finding counts its sightings (``occurrences``, ``last_seen``, ``last_scan_id``); which scans
saw it is in the retained raw scans, so no row is written per sighting.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from bot.database.core import Base
from bot.database.types import JsonType, UtcDateTime


class Finding(Base):
    __tablename__ = "findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    grouping_key: Mapped[str] = mapped_column(String(64))
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
    evidence: Mapped[FindingEvidence | None] = relationship(lazy="selectin")

    @property
    def details(self) -> dict[str, Any]:
        """What the scan showed (clipped at ingest; redact with ``display_details`` to show)."""
        return self.evidence.details if self.evidence is not None else {}


class FindingEvidence(Base):
    """A finding's evidence (matched-at, description, references, request/response excerpts),
    in its own table: every sighting updates the narrow finding row, and this wide one is
    written once, so a re-scan rewrites a tenth of the bytes."""

    __tablename__ = "finding_evidence"

    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), primary_key=True)
    details: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)


class FindingCve(Base):
    """One row per (finding, CVE): lets a new KEV catalog reach open findings in one join."""

    __tablename__ = "finding_cves"

    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id"), primary_key=True)
    cve_id: Mapped[str] = mapped_column(String(32), primary_key=True)

    __table_args__ = (Index("ix_finding_cves_cve_id", "cve_id"),)
