"""The schema is exactly what the models say, and only migrations create it."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

from bot.database.core import make_engine
from bot.database.migrations import (
    SCHEMA_HEAD,
    current_revision,
    head_revision,
    is_up_to_date,
    upgrade,
)
from bot.models import Base


def test_migrations_match_models_without_drift(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_database_is_at_head_and_upgrade_is_idempotent(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_every_model_table_exists(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_the_start_up_check_knows_the_newest_migration(tmp_path: Path) -> None:
    """Processes compare the database with SCHEMA_HEAD instead of loading alembic."""
    assert head_revision() == SCHEMA_HEAD
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert not is_up_to_date(engine)  # never migrated: no alembic_version table
    upgrade(engine, "0001")
    assert not is_up_to_date(engine)
    upgrade(engine)
    assert is_up_to_date(engine)
    engine.dispose()
