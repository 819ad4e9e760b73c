"""Test harness.

The schema always comes from ``alembic upgrade head`` (never ``create_all``), once per test
session, on SQLite by default or on PostgreSQL when ``SLABOT_TEST_DATABASE_URL`` is set. Tests
commit for real (several use many connections at once: concurrent workers, concurrent
appenders), and every table is emptied after each test.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine

from bot.context import AppContext
from bot.database.core import make_engine, make_session_factory
from bot.database.migrations import upgrade
from bot.models import Base
from bot.policy import load_policy
from bot.settings import Settings
from integrations.evidence import open_evidence_store

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
CORPUS = SHARED / "corpus"
DATA = Path(__file__).resolve().parent / "data"


def corpus_dir(name: str) -> Path:
    """A folder of ../shared/corpus, or skip the test cleanly when it is absent."""
    path = CORPUS / name
    if not path.is_dir():
        pytest.skip(f"shared corpus {path} not present")
    return path


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("SLABOT_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'slabot-test.db'}"


@pytest.fixture(scope="session")
def migrated_engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(delete(table))


@pytest.fixture
def engine(migrated_engine: Engine) -> Iterator[Engine]:
    yield migrated_engine
    _empty_all_tables(migrated_engine)


@pytest.fixture
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        evidence_url=f"file://{tmp_path / 'evidence'}",
        ingest_token="test-ingest-token",
        api_token="test-api-token",
        # Nothing listens on the discard port: a refresh fails at once, never reaching out.
        kev_url="http://127.0.0.1:9/known_exploited_vulnerabilities.json",
        kev_mirror_url=None,
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture
def ctx(engine: Engine, settings: Settings) -> Iterator[AppContext]:
    context = AppContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        policy=load_policy(None),
        evidence=open_evidence_store(
            settings.evidence_url,
            s3_endpoint_url=None,
            retention_days=settings.evidence_retention_days,
        ),
    )
    yield context
    context.services.clear()


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday
