"""Small named state rows: KEV feed validators, reconciler cursors, cadence checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.database.core import Base
from bot.database.types import JsonType, UtcDateTime


class StateValue(Base):
    __tablename__ = "state_values"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


def get_state(session: Session, name: str) -> dict[str, Any] | None:
    row = session.scalar(select(StateValue).where(StateValue.name == name))
    return None if row is None else dict(row.value)


def set_state(session: Session, name: str, value: dict[str, Any], *, now: datetime) -> None:
    row = session.get(StateValue, name)
    if row is None:
        session.add(StateValue(name=name, value=value, updated_at=now))
    else:
        row.value = value
        row.updated_at = now
