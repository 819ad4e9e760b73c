"""CLI plumbing: clear configuration errors, `evidence verify`, `db upgrade`, `jobs`, `tick`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from bot.cli.app import _register_features, app
from bot.context import AppContext
from bot.database.core import transaction
from bot.events.service import NewEvent, append_events
from bot.jobs import service as jobs

runner = CliRunner()
_register_features()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, ctx: AppContext, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("SLABOT_") and name != "SLABOT_TEST_DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLABOT_DATABASE_URL", ctx.settings.database_url)
    monkeypatch.setenv("SLABOT_EVIDENCE_URL", ctx.settings.evidence_url)
    monkeypatch.setenv("SLABOT_KEV_URL", "http://127.0.0.1:9/kev.json")
    monkeypatch.setenv("SLABOT_KEV_MIRROR_URL", "")


def test_misconfiguration_prints_one_line_per_problem_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, env: None
) -> None:
    monkeypatch.setenv("SLABOT_TRACKER", "jira")
    monkeypatch.setenv("SLABOT_JIRA_EMAIL", "sec@example.com")
    result = runner.invoke(app, ["tickets"])
    assert result.exit_code == 2
    assert (
        "configuration error: SLABOT_JIRA_URL is required when SLABOT_TRACKER=jira" in result.output
    )
    assert "Traceback" not in result.output


def test_malformed_database_url_and_policy_file_fail_clearly(
    monkeypatch: pytest.MonkeyPatch, env: None, tmp_path: Path
) -> None:
    monkeypatch.setenv("SLABOT_DATABASE_URL", "postgres//oops")
    result = runner.invoke(app, ["tickets"])
    assert result.exit_code == 2
    assert "SLABOT_DATABASE_URL: not a SQLAlchemy URL" in result.output
    monkeypatch.delenv("SLABOT_DATABASE_URL")
    policy = tmp_path / "policy.toml"
    policy.write_text('[remediation_days]\ncritical = "thirty"\n')
    monkeypatch.setenv("SLABOT_POLICY_FILE", str(policy))
    result = runner.invoke(app, ["tickets"])
    assert result.exit_code == 2
    assert "line 2: remediation_days.critical" in result.output


def test_unreachable_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, env: None) -> None:
    monkeypatch.setenv(
        "SLABOT_DATABASE_URL", "postgresql+psycopg://nobody:x@127.0.0.1:9/none?connect_timeout=2"
    )
    result = runner.invoke(app, ["tickets"])
    assert result.exit_code == 2
    assert "SLABOT_DATABASE_URL: cannot connect" in result.output


def test_evidence_verify_ok_then_names_the_broken_row(
    env: None, ctx: AppContext, engine: Engine, now
) -> None:  # type: ignore[no-untyped-def]
    with transaction(ctx.sessions) as session:
        append_events(
            session,
            [NewEvent(kind="k", at=now, source="system", details={"i": i}) for i in range(5)],
            now=now,
        )
    ok = runner.invoke(app, ["evidence", "verify"])
    assert ok.exit_code == 0, ok.output
    assert ok.output.startswith("OK: 5 events, head seq 5 hash ")
    with engine.begin() as conn:
        conn.execute(text("UPDATE events SET kind = 'forged' WHERE seq = 3"))
    broken = runner.invoke(app, ["evidence", "verify"])
    assert broken.exit_code == 1
    assert "BROKEN: chain broken at seq 3 (modified)" in broken.output


def test_jobs_list_shows_dead_jobs(env: None, ctx: AppContext, now) -> None:  # type: ignore[no-untyped-def]
    with transaction(ctx.sessions) as session:
        jobs.enqueue(session, kind="nobody-handles-this", key="x", now=now)
    tick = runner.invoke(app, ["tick", "--now", now.isoformat(), "--json"])
    assert tick.exit_code == 0, tick.output
    listed = runner.invoke(app, ["jobs", "list", "--state", "dead"])
    assert listed.exit_code == 0
    assert (
        "dead" in listed.output and "no handler for job kind 'nobody-handles-this'" in listed.output
    )


def test_bad_now_is_a_clear_error(env: None) -> None:
    result = runner.invoke(app, ["tick", "--now", "yesterday"])
    assert result.exit_code == 2
    assert "--now: not an ISO-8601 time: 'yesterday'" in result.output


def test_db_upgrade_is_idempotent(env: None) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at revision" in result.output
