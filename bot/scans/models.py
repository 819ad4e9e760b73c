"""A scan is one accepted ingest body (webhook, HEC stream, or CLI file)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.database.core import Base
from bot.database.types import JsonType, UtcDateTime


class Scan(Base):
    __tablename__ = "scans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    source: Mapped[str] = mapped_column(String(32))  # webhook | hec | cli
    scanner: Mapped[str] = mapped_column(String(32), default="nuclei")
    target: Mapped[str | None] = mapped_column(String(2048))
    container: Mapped[str] = mapped_column(String(16))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    artifact_uri: Mapped[str | None] = mapped_column(String(2048))
    artifact_key: Mapped[str | None] = mapped_column(String(1024))
    findings: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    duplicate: Mapped[int] = mapped_column(Integer, default=0)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    escalated_kev: Mapped[int] = mapped_column(Integer, default=0)
    tickets_opened: Mapped[int] = mapped_column(Integer, default=0)
    ignored: Mapped[int] = mapped_column(Integer, default=0)
    scan_metadata: Mapped[dict[str, Any] | None] = mapped_column(JsonType)

    __table_args__ = (Index("ix_scans_target_received_at", "target", "received_at"),)
