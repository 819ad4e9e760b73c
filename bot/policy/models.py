"""Policy models (pydantic v2, frozen) and the TOML keys they are read from.

A policy file is TOML. Every key is optional except where a preset supplies it: a file is
always merged onto a preset (``preset = "..."``, default ``nist-800-40r4``), tables merge key
by key, arrays replace the preset's array. Unknown keys are errors.

Top level
    ``preset``               name of the built-in preset this file overrides
                             (``nist-800-40r4``, ``fedramp-rev5``, ``pci-dss-4``,
                             ``cisa-bod-26-04``)
    ``name``                 policy name shown in evidence (default: the preset's name)
    ``min_ticket_severity``  lowest effective severity that opens a ticket (default ``medium``)
    ``grouping``             ticket grouping key: ``template_asset`` (default, one ticket per
                             template per asset), ``template`` or ``finding``
    ``clock_start``          when the SLA clock starts: ``first_seen`` (the only value today)

``[citation]``               ``text`` (what the numbers are and where they come from) and
                             ``source`` (a URL-less source note, e.g. "NIST SP 800-40r4 §3.5")
``[remediation_days]``       ``critical``/``high``/``medium``/``low``/``info``/``unknown``:
                             calendar days from the clock start; absent (or ``false``) = that
                             severity opens no ticket (the finding is recorded only)
``[kev]``                    ``escalate_to`` (severity a KEV-listed finding is raised to, default
                             ``critical``); ``kev_due_date`` (bool, default false: when true the
                             catalog's ``dueDate`` also bounds the due date)
``[reminders]``              ``hour`` (0-23 local, default 9), ``weekly_interval_days`` (7),
                             ``daily_window_days`` (7), ``escalate_after_overdue_days`` (3),
                             ``escalation_interval_days`` (7)
``[risk_acceptance]``        ``max_days`` (90), ``max_days_critical`` (30, also for KEV),
                             ``min_justification_chars`` (20), ``expiry_warning_days`` (7)
``[scan_cadence]``           ``cron`` (UTC, default ``"0 2 * * 1"``), ``grace_hours`` (24),
                             ``targets`` (declared targets, default none)
``[[assignees]]``            ``pattern`` (fnmatch glob, case-insensitive, over the asset or the
                             template id) and ``email``; the first match wins
``[jira]``                   ``priority`` table: severity -> Jira priority name (overrides the
                             default critical=Highest, high=High, medium=Medium, low=Low,
                             info=Lowest, unknown=Low)
``[exposure]``               ``internet_exposed``: asset glob patterns that are publicly exposed
                             (the "Publicly Exposed" input of the BOD 26-04 decision table)
``[bod_26_04]``              ``enabled`` (bool, default false): also bound deadlines by the CISA
                             BOD 26-04 decision table (see :mod:`bot.policy.ssvc`)

The time zone is not part of the policy: it comes from SLABOT_TIMEZONE and is passed to the
rule functions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Annotated, Literal

from croniter import croniter
from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictBool
from pydantic_core import PydanticCustomError

Severity = Literal["critical", "high", "medium", "low", "info", "unknown"]
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info", "unknown")
_RANK: dict[str, int] = {
    "unknown": 0,
    "info": 1,
    "low": 2,
    "medium": 3,
    "high": 4,
    "critical": 5,
}

Grouping = Literal["template_asset", "template", "finding"]
ClockStart = Literal["first_seen"]

DEFAULT_JIRA_PRIORITY: dict[Severity, str] = {
    "critical": "Highest",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "info": "Lowest",
    "unknown": "Low",
}


def severity_rank(severity: str) -> int:
    """Order of severities: unknown < info < low < medium < high < critical.

    ``unknown`` ranks lowest: Nuclei uses it for templates that declare no severity.
    Raises ValueError for a string that is not a severity.
    """
    try:
        return _RANK[severity]
    except KeyError:
        raise ValueError(f"not a severity: {severity!r}") from None


def show_value(value: object) -> str:
    """A TOML-ish rendering of a bad value for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    return str(value)


def _int_in(low: int, high: int | None, what: str) -> Callable[[object], int]:
    def check(value: object) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or value < low or (high is not None and value > high):  # type: ignore[operator]
            raise PydanticCustomError(
                "int_range", "must be {what}, got {got}", {"what": what, "got": show_value(value)}
            )
        return value  # type: ignore[return-value]

    return check


def _days_or_none(value: object) -> int | None:
    if value is None or value is False:
        return None
    return _int_in(1, None, "a positive integer")(value)


def _nonempty_str(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PydanticCustomError(
            "nonempty_str", "must be a non-empty string, got {got}", {"got": show_value(value)}
        )
    return value


_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: object) -> str:
    if not isinstance(value, str) or not _EMAIL_RE.match(value):
        raise PydanticCustomError(
            "email", "must be an email address, got {got}", {"got": show_value(value)}
        )
    return value


def _cron(value: object) -> str:
    if not isinstance(value, str) or not croniter.is_valid(value):
        raise PydanticCustomError(
            "cron", "must be a cron expression, got {got}", {"got": show_value(value)}
        )
    return value


PositiveInt = Annotated[int, BeforeValidator(_int_in(1, None, "a positive integer"))]
NonNegativeInt = Annotated[int, BeforeValidator(_int_in(0, None, "an integer >= 0"))]
Hour = Annotated[int, BeforeValidator(_int_in(0, 23, "an hour from 0 to 23"))]
Days = Annotated[int | None, BeforeValidator(_days_or_none)]
NonEmptyStr = Annotated[str, BeforeValidator(_nonempty_str)]
Email = Annotated[str, BeforeValidator(_email)]
Cron = Annotated[str, BeforeValidator(_cron)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Citation(_Frozen):
    text: NonEmptyStr
    source: NonEmptyStr


class RemediationDays(_Frozen):
    critical: Days = 30
    high: Days = 60
    medium: Days = 90
    low: Days = None
    info: Days = None
    unknown: Days = None

    def for_severity(self, severity: Severity) -> int | None:
        severity_rank(severity)
        days: int | None = getattr(self, severity)
        return days


class KevRule(_Frozen):
    escalate_to: Severity = "critical"
    kev_due_date: StrictBool = False


class Reminders(_Frozen):
    hour: Hour = 9
    weekly_interval_days: PositiveInt = 7
    daily_window_days: NonNegativeInt = 7
    escalate_after_overdue_days: NonNegativeInt = 3
    escalation_interval_days: PositiveInt = 7


class RiskAcceptance(_Frozen):
    max_days: PositiveInt = 90
    max_days_critical: PositiveInt = 30
    min_justification_chars: NonNegativeInt = 20
    expiry_warning_days: NonNegativeInt = 7


class ScanCadence(_Frozen):
    cron: Cron = "0 2 * * 1"
    grace_hours: NonNegativeInt = 24
    targets: tuple[NonEmptyStr, ...] = ()


class Assignee(_Frozen):
    pattern: NonEmptyStr
    email: Email


class JiraPriority(_Frozen):
    """Jira priority name per severity; None = the default (DEFAULT_JIRA_PRIORITY)."""

    critical: NonEmptyStr | None = None
    high: NonEmptyStr | None = None
    medium: NonEmptyStr | None = None
    low: NonEmptyStr | None = None
    info: NonEmptyStr | None = None
    unknown: NonEmptyStr | None = None

    def for_severity(self, severity: Severity) -> str:
        name: str | None = getattr(self, severity)
        return name if name is not None else DEFAULT_JIRA_PRIORITY[severity]


class Jira(_Frozen):
    priority: JiraPriority = JiraPriority()


class Exposure(_Frozen):
    internet_exposed: tuple[NonEmptyStr, ...] = ()


class Bod2604(_Frozen):
    enabled: StrictBool = False


class Policy(_Frozen):
    """A validated remediation-SLA policy. Build it with :func:`bot.policy.load_policy`."""

    name: NonEmptyStr
    citation: Citation
    preset: str | None = None
    min_ticket_severity: Severity = "medium"
    grouping: Grouping = "template_asset"
    clock_start: ClockStart = "first_seen"
    remediation_days: RemediationDays = RemediationDays()
    kev: KevRule = KevRule()
    reminders: Reminders = Reminders()
    risk_acceptance: RiskAcceptance = RiskAcceptance()
    scan_cadence: ScanCadence = ScanCadence()
    assignees: tuple[Assignee, ...] = ()
    jira: Jira = Jira()
    exposure: Exposure = Exposure()
    bod_26_04: Bod2604 = Bod2604()

    def days_table(self) -> dict[Severity, int | None]:
        """Remediation days per severity (None = no ticket), e.g. for evidence metadata."""
        return {s: self.remediation_days.for_severity(s) for s in SEVERITIES}
