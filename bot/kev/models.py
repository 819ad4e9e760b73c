"""Stored KEV catalog versions and their entries."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.database.core import Base
from bot.database.types import UtcDateTime


class KevCatalogVersion(Base):
    __tablename__ = "kev_catalogs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    catalog_version: Mapped[str] = mapped_column(String(64))
    date_released: Mapped[datetime] = mapped_column(UtcDateTime)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    count: Mapped[int] = mapped_column(Integer)
    fetched_at: Mapped[datetime] = mapped_column(UtcDateTime)
    source: Mapped[str] = mapped_column(String(2048))
    etag: Mapped[str | None] = mapped_column(String(256))
    last_modified: Mapped[str | None] = mapped_column(String(64))
    is_current: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


class KevEntry(Base):
    __tablename__ = "kev_entries"

    catalog_id: Mapped[int] = mapped_column(ForeignKey("kev_catalogs.id"), primary_key=True)
    cve_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    date_added: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date | None] = mapped_column(Date)
    known_ransomware: Mapped[bool | None] = mapped_column(Boolean)
    vendor_project: Mapped[str] = mapped_column(String(256))
    product: Mapped[str] = mapped_column(String(256))
    name: Mapped[str] = mapped_column(Text)

    __table_args__ = (Index("ix_kev_entries_cve_id", "cve_id"),)
