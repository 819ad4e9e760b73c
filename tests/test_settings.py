"""Settings refuse to start misconfigured, with one clear line per problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.settings import ConfigurationError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SLABOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def problems(**env: str) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**env)
    return caught.value.problems


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./slabot.db"
    assert settings.tracker == "local"
    assert settings.evidence_url == "file://./evidence"
    assert settings.evidence_retention_days == 400
    assert settings.timezone == "UTC"
    assert settings.ingest_token is None


def test_environment_prefix_and_secret_values_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLABOT_INGEST_TOKEN", "s3cret")
    monkeypatch.setenv("SLABOT_SLACK_APPROVERS", "U1, U2,,")
    settings = load_settings()
    assert settings.ingest_token is not None
    assert settings.ingest_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.approvers == {"U1", "U2"}


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLABOT_TIMEZONE=Europe/Berlin\n")
    assert load_settings().timezone == "Europe/Berlin"


def test_jira_without_url_names_each_missing_setting() -> None:
    lines = problems(tracker="jira")
    assert "SLABOT_JIRA_URL is required when SLABOT_TRACKER=jira" in lines
    assert "SLABOT_JIRA_API_TOKEN is required when SLABOT_TRACKER=jira" in lines
    assert "SLABOT_JIRA_PROJECT is required when SLABOT_TRACKER=jira" in lines


def test_jira_with_everything_but_the_url() -> None:
    lines = problems(
        tracker="jira",
        jira_email="a@b.c",
        jira_api_token="t",
        jira_project="SEC",
        jira_webhook_secret="w",
    )
    assert lines == ["SLABOT_JIRA_URL is required when SLABOT_TRACKER=jira"]


def test_linear_requirements() -> None:
    lines = problems(tracker="linear", linear_api_key="k")
    assert lines == [
        "SLABOT_LINEAR_TEAM_ID is required when SLABOT_TRACKER=linear",
        "SLABOT_LINEAR_WEBHOOK_SECRET is required when SLABOT_TRACKER=linear",
    ]


def test_slack_token_needs_signing_secret_channel_and_approvers() -> None:
    lines = problems(slack_bot_token="xoxb-1")
    assert "SLABOT_SLACK_SIGNING_SECRET is required when SLABOT_SLACK_BOT_TOKEN is set" in lines
    assert "SLABOT_SLACK_CHANNEL is required when SLABOT_SLACK_BOT_TOKEN is set" in lines
    assert any(line.startswith("SLABOT_SLACK_APPROVERS is required") for line in lines)


def test_unknown_tracker_timezone_and_bad_urls_are_named() -> None:
    assert problems(tracker="github")[0].startswith("SLABOT_TRACKER: Input should be")
    assert problems(timezone="Mars/Olympus") == [
        "SLABOT_TIMEZONE: unknown time zone 'Mars/Olympus'"
    ]
    assert problems(database_url="not a url") == [
        "SLABOT_DATABASE_URL: not a SQLAlchemy URL: 'not a url'"
    ]
    assert problems(database_url="mysql://x/y") == [
        "SLABOT_DATABASE_URL: unsupported database 'mysql'; use sqlite or postgresql"
    ]
    assert problems(database_url="postgresql+psycopg://u:p@db.internal:pg/slabot") == [
        "SLABOT_DATABASE_URL: not a SQLAlchemy URL: "
        "'postgresql+psycopg://u:p@db.internal:pg/slabot' "
        "(Port could not be cast to integer value as 'pg')"
    ]
    good = "postgresql+psycopg://u:p@db.internal:5432/slabot"
    assert load_settings(database_url=good).database_url == good
    assert problems(evidence_url="ftp://x") == [
        "SLABOT_EVIDENCE_URL: must start with file:// or s3://, got 'ftp://x'"
    ]
    assert problems(evidence_retention_days="0")[0].startswith("SLABOT_EVIDENCE_RETENTION_DAYS:")
    assert problems(snapshot_cron="every monday") == [
        "SLABOT_SNAPSHOT_CRON: not a cron expression: 'every monday'"
    ]


def test_missing_policy_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    assert problems(policy_file=str(missing)) == [
        f"SLABOT_POLICY_FILE: no such file {str(missing)!r}"
    ]
