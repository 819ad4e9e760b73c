"""Process settings (environment variables prefixed ``SLABOT_`` and an optional ``.env``).

Settings are built explicitly by the entry points (CLI, app factory) and passed down; nothing
reads the environment at import time. :func:`load_settings` turns every problem into one clear
line so a misconfigured process refuses to start instead of failing on the first webhook.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_KEV_URL = (
    "https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json"
)
DEFAULT_KEV_MIRROR_URL = "https://raw.githubusercontent.com/cisagov/kev-data/develop/known_exploited_vulnerabilities.json"
DEFAULT_LINEAR_API_URL = "https://api.linear.app/graphql"
DEFAULT_SLACK_API_URL = "https://slack.com/api/"
MIB = 1024 * 1024


# SQLAlchemy's URL scheme, ``backend[+driver]://``, read without importing SQLAlchemy: the
# settings are loaded before a large ingest forks its parsers, which need no database code.
# (The scheme and the port are checked here; the engine checks the rest at start-up.)
_DATABASE_SCHEME = re.compile(r"(?P<backend>\w+)(?:\+\w+)?://")


def database_backend(url: str) -> str | None:
    """The backend a database URL names (``sqlite``, ``postgresql``, …, lower case); None
    when it has no ``backend://`` scheme."""
    match = _DATABASE_SCHEME.match(url)
    return match.group("backend").lower() if match else None


class ConfigurationError(Exception):
    """Raised with one human-readable line per problem; the CLI prints them and exits 2."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SLABOT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    database_url: str = "sqlite:///./slabot.db"
    policy_file: Path | None = None
    ingest_token: SecretStr | None = None
    api_token: SecretStr | None = None
    tracker: Literal["local", "jira", "linear"] = "local"

    jira_url: str | None = None
    jira_email: str | None = None
    jira_api_token: SecretStr | None = None
    jira_project: str | None = None
    jira_issue_type: str = "Bug"
    jira_webhook_secret: SecretStr | None = None
    # JSON object of extra Jira fields, e.g. {"customfield_10050": "CC7.2"}.
    jira_custom_fields: dict[str, Any] = Field(default_factory=dict)

    linear_api_key: SecretStr | None = None
    linear_team_id: str | None = None
    linear_webhook_secret: SecretStr | None = None
    linear_api_url: str = DEFAULT_LINEAR_API_URL

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_channel: str | None = None
    slack_approvers: str = ""
    slack_security_channel: str | None = None
    slack_api_url: str = DEFAULT_SLACK_API_URL

    kev_url: str = DEFAULT_KEV_URL
    kev_mirror_url: str | None = DEFAULT_KEV_MIRROR_URL
    kev_file: Path | None = None

    evidence_url: str = "file://./evidence"
    s3_endpoint_url: str | None = None
    evidence_retention_days: int = Field(default=400, ge=1, le=36500)

    timezone: str = "UTC"
    # When the weekly snapshot of the previous ISO week is written (UTC cron).
    snapshot_cron: str = "0 2 * * 1"
    max_body_bytes: int = Field(default=50 * MIB, ge=1024)
    max_decompressed_bytes: int = Field(default=200 * MIB, ge=1024)
    job_lease_seconds: int = Field(default=300, ge=5)
    worker_poll_seconds: float = Field(default=2.0, gt=0)
    clock_interval_seconds: float = Field(default=30.0, gt=0)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("snapshot_cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(value):
            raise ValueError(f"not a cron expression: {value!r}")
        return value

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, value: str) -> str:
        backend = database_backend(value)
        if backend is None:
            raise ValueError(f"not a SQLAlchemy URL: {value!r}")
        if backend not in {"sqlite", "postgresql"}:
            raise ValueError(f"unsupported database {backend!r}; use sqlite or postgresql")
        try:
            urlsplit(value).port  # noqa: B018 - reading it checks it
        except ValueError as exc:
            raise ValueError(f"not a SQLAlchemy URL: {value!r} ({exc})") from None
        return value

    @field_validator("evidence_url")
    @classmethod
    def _valid_evidence_url(cls, value: str) -> str:
        if not value.startswith(("file://", "s3://")):
            raise ValueError(f"must start with file:// or s3://, got {value!r}")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def approvers(self) -> frozenset[str]:
        return frozenset(a.strip() for a in self.slack_approvers.split(",") if a.strip())

    @property
    def is_sqlite(self) -> bool:
        return database_backend(self.database_url) == "sqlite"

    def integration_problems(self) -> list[str]:
        """Cross-field checks: an enabled integration must have what it needs."""
        problems: list[str] = []

        def need(enabled_by: str, *names: str) -> None:
            for name in names:
                if getattr(self, name) in (None, ""):
                    problems.append(f"SLABOT_{name.upper()} is required when {enabled_by}")

        if self.tracker == "jira":
            need(
                "SLABOT_TRACKER=jira",
                "jira_url",
                "jira_email",
                "jira_api_token",
                "jira_project",
                "jira_webhook_secret",
            )
        if self.tracker == "linear":
            need(
                "SLABOT_TRACKER=linear", "linear_api_key", "linear_team_id", "linear_webhook_secret"
            )
        if self.slack_bot_token is not None:
            need("SLABOT_SLACK_BOT_TOKEN is set", "slack_signing_secret", "slack_channel")
            if not self.approvers:
                problems.append(
                    "SLABOT_SLACK_APPROVERS is required when SLABOT_SLACK_BOT_TOKEN is set "
                    "(comma-separated Slack user ids of the security leads)"
                )
        if self.evidence_url.startswith("s3://") and not self.evidence_url[5:].split("/")[0]:
            problems.append("SLABOT_EVIDENCE_URL: s3:// URL has no bucket name")
        if self.policy_file is not None and not self.policy_file.is_file():
            problems.append(f"SLABOT_POLICY_FILE: no such file {str(self.policy_file)!r}")
        if self.kev_file is not None and not self.kev_file.is_file():
            problems.append(f"SLABOT_KEV_FILE: no such file {str(self.kev_file)!r}")
        return problems


def _describe_validation_error(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "settings"
        message = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"SLABOT_{field.upper()}: {message}")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (plus explicit overrides) or raise ConfigurationError."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(_describe_validation_error(exc)) from None
    problems = settings.integration_problems()
    if problems:
        raise ConfigurationError(problems)
    return settings
