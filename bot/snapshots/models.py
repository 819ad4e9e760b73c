"""Weekly SLA-compliance snapshots written to the evidence store."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from bot.database.core import Base
from bot.database.types import JsonType, UtcDateTime


class Snapshot(Base):
    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    week: Mapped[str] = mapped_column(String(8), unique=True)  # YYYY-Www
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    generated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    uri: Mapped[str] = mapped_column(String(2048))
    key: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    version_id: Mapped[str | None] = mapped_column(String(256))
    event_head_seq: Mapped[int] = mapped_column(Integer)
    event_head_hash: Mapped[str] = mapped_column(String(64))
    summary: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
