from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.policy import (
    SsvcInputs,
    default_policy,
    due_date,
    effective_severity,
    escalated_due,
    load_policy_text,
    load_preset,
    opens_ticket,
    remediation_days,
    severity_rank,
    sla_outcome,
    tighten,
)

UTC_TZ = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NY = ZoneInfo("America/New_York")
POLICY = default_policy()


def test_severity_rank_order() -> None:
    order = ["unknown", "info", "low", "medium", "high", "critical"]
    assert [severity_rank(s) for s in order] == sorted(severity_rank(s) for s in order)
    assert len({severity_rank(s) for s in order}) == 6
    with pytest.raises(ValueError, match="not a severity"):
        severity_rank("severe")


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("critical", True),
        ("high", True),
        ("medium", True),
        ("low", False),
        ("info", False),
        ("unknown", False),
    ],
)
def test_opens_ticket_default(severity: str, expected: bool) -> None:
    assert opens_ticket(POLICY, severity) is expected  # type: ignore[arg-type]


def test_opens_ticket_needs_days_and_threshold() -> None:
    fedramp = load_preset("fedramp-rev5")
    assert opens_ticket(fedramp, "low")
    assert not opens_ticket(fedramp, "info")
    raised = load_policy_text('min_ticket_severity = "high"\n', "p.toml")
    assert not opens_ticket(raised, "medium")
    assert remediation_days(raised, "medium") is None
    no_days = load_policy_text('min_ticket_severity = "low"\n', "p.toml")
    assert not opens_ticket(no_days, "low")


def test_effective_severity_kev() -> None:
    assert effective_severity(POLICY, "low", in_kev=True) == "critical"
    assert effective_severity(POLICY, "low", in_kev=False) == "low"
    high = load_policy_text('[kev]\nescalate_to = "high"\n', "p.toml")
    assert effective_severity(high, "medium", in_kev=True) == "high"
    assert effective_severity(high, "critical", in_kev=True) == "critical"


def test_due_date_default_days() -> None:
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    assert due_date(POLICY, "critical", start, UTC_TZ) == date(2026, 4, 1)
    assert due_date(POLICY, "high", start, UTC_TZ) == date(2026, 5, 1)
    assert due_date(POLICY, "medium", start, UTC_TZ) == date(2026, 5, 31)
    assert due_date(POLICY, "low", start, UTC_TZ) is None
    assert due_date(POLICY, "info", start, UTC_TZ) is None


def test_due_date_uses_local_date_of_clock_start() -> None:
    # 23:30 UTC on 1 March is already 2 March in Berlin, still 1 March in New York.
    start = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    assert due_date(POLICY, "critical", start, BERLIN) == date(2026, 4, 1)
    assert due_date(POLICY, "critical", start, NY) == date(2026, 3, 31)
    assert due_date(POLICY, "critical", start, UTC_TZ) == date(2026, 3, 31)


def test_due_date_rejects_naive() -> None:
    with pytest.raises(ValueError, match="naive"):
        due_date(POLICY, "critical", datetime(2026, 3, 1), UTC_TZ)


def test_due_date_kev_catalog_bound() -> None:
    start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    catalog = date(2026, 3, 20)
    assert due_date(POLICY, "critical", start, UTC_TZ, kev_catalog_due=catalog) == date(2026, 4, 1)
    bound = load_policy_text("[kev]\nkev_due_date = true\n", "p.toml")
    assert due_date(bound, "critical", start, UTC_TZ, kev_catalog_due=catalog) == catalog
    # A catalog date already past never puts the due date before the clock start.
    old = date(2022, 1, 1)
    assert due_date(bound, "critical", start, UTC_TZ, kev_catalog_due=old) == date(2026, 3, 2)


def test_tighten() -> None:
    d1, d2 = date(2026, 3, 1), date(2026, 4, 1)
    assert tighten(None, None) == (None, False)
    assert tighten(None, d1) == (d1, True)
    assert tighten(d1, None) == (d1, False)
    assert tighten(d2, d1) == (d1, True)
    assert tighten(d1, d2) == (d1, False)
    assert tighten(d1, d1) == (d1, False)


def test_escalation_to_critical_tightens() -> None:
    first_seen = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    medium_due = due_date(POLICY, "medium", first_seen, UTC_TZ)
    assert medium_due == date(2026, 5, 31)
    # KEV listing learned on 10 March: critical clock starts then -> 9 April.
    new = escalated_due(
        POLICY,
        current_due=medium_due,
        first_seen=first_seen,
        escalated_at=datetime(2026, 3, 10, 8, 0, tzinfo=UTC),
        new_severity="critical",
        tz=UTC_TZ,
    )
    assert new == date(2026, 4, 9)


def test_escalation_never_loosens_and_never_before_first_seen() -> None:
    first_seen = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    # Late escalation: max(first_seen, escalated_at)+30 is later than current due -> unchanged.
    new = escalated_due(
        POLICY,
        current_due=date(2026, 4, 1),
        first_seen=first_seen,
        escalated_at=datetime(2026, 3, 20, tzinfo=UTC),
        new_severity="critical",
        tz=UTC_TZ,
    )
    assert new == date(2026, 4, 1)
    # Escalation stamped before first seen: the clock starts at first seen.
    early = escalated_due(
        POLICY,
        current_due=None,
        first_seen=first_seen,
        escalated_at=datetime(2026, 1, 1, tzinfo=UTC),
        new_severity="critical",
        tz=UTC_TZ,
    )
    assert early == date(2026, 4, 1)
    # De-escalation to a no-ticket severity keeps the current due date.
    kept = escalated_due(
        POLICY,
        current_due=date(2026, 4, 1),
        first_seen=first_seen,
        escalated_at=datetime(2026, 3, 5, tzinfo=UTC),
        new_severity="info",
        tz=UTC_TZ,
    )
    assert kept == date(2026, 4, 1)
    none = escalated_due(
        POLICY,
        current_due=None,
        first_seen=first_seen,
        escalated_at=datetime(2026, 3, 5, tzinfo=UTC),
        new_severity="low",
        tz=UTC_TZ,
    )
    assert none is None


def test_escalation_kev_catalog_due() -> None:
    bound = load_policy_text("[kev]\nkev_due_date = true\n", "p.toml")
    first_seen = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    kwargs = {
        "current_due": date(2026, 5, 31),
        "first_seen": first_seen,
        "escalated_at": datetime(2026, 3, 10, tzinfo=UTC),
        "new_severity": "critical",
        "tz": UTC_TZ,
    }
    assert escalated_due(bound, kev_catalog_due=date(2026, 3, 24), **kwargs) == date(2026, 3, 24)  # type: ignore[arg-type]
    assert escalated_due(bound, kev_catalog_due=date(2025, 1, 1), **kwargs) == date(2026, 3, 2)  # type: ignore[arg-type]
    # Ignored when kev_due_date is false.
    assert escalated_due(POLICY, kev_catalog_due=date(2026, 3, 24), **kwargs) == date(2026, 4, 9)  # type: ignore[arg-type]


def test_bod_preset_due_dates() -> None:
    bod = load_preset("cisa-bod-26-04")
    start = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    kev_exposed = SsvcInputs(
        in_kev=True, exposed=True, automatable=True, technical_impact="partial"
    )
    assert due_date(bod, "critical", start, UTC_TZ, ssvc=kev_exposed) == date(2026, 7, 4)
    internal = SsvcInputs(in_kev=True, exposed=False, automatable=False, technical_impact="partial")
    assert due_date(bod, "critical", start, UTC_TZ, ssvc=internal) == date(2026, 7, 15)
    fsu = SsvcInputs(in_kev=False, exposed=False, automatable=False, technical_impact="total")
    assert due_date(bod, "high", start, UTC_TZ, ssvc=fsu) is None
    # No inputs at all: every input unknown -> strictest outcome (3 days).
    assert due_date(bod, "medium", start, UTC_TZ) == date(2026, 7, 4)
    # Below the ticket threshold: no ticket whatever the table says.
    assert due_date(bod, "low", start, UTC_TZ, ssvc=kev_exposed) is None
    # Severity days act as a fallback/bound when configured.
    both = load_policy_text('preset = "cisa-bod-26-04"\n[remediation_days]\nhigh = 30\n', "p.toml")
    assert due_date(both, "high", start, UTC_TZ, ssvc=fsu) == date(2026, 7, 31)
    assert due_date(both, "high", start, UTC_TZ, ssvc=internal) == date(2026, 7, 15)


@pytest.mark.parametrize(
    ("status", "due", "resolved_on", "today", "accepted", "expected"),
    [
        ("open", date(2026, 4, 1), None, date(2026, 3, 1), False, "within_sla"),
        ("open", date(2026, 4, 1), None, date(2026, 3, 24), False, "within_sla"),
        ("open", date(2026, 4, 1), None, date(2026, 3, 25), False, "due_soon"),
        ("in_progress", date(2026, 4, 1), None, date(2026, 3, 31), False, "due_soon"),
        ("open", date(2026, 4, 1), None, date(2026, 4, 1), False, "due_soon"),
        ("open", date(2026, 4, 1), None, date(2026, 4, 2), False, "overdue"),
        ("resolved", date(2026, 4, 1), date(2026, 4, 1), date(2026, 5, 1), False, "met"),
        ("resolved", date(2026, 4, 1), date(2026, 4, 2), date(2026, 5, 1), False, "missed"),
        ("resolved", None, date(2026, 4, 2), date(2026, 5, 1), False, "met"),
        ("risk_accepted", date(2026, 4, 1), None, date(2026, 5, 1), False, "excepted"),
        ("open", date(2026, 4, 1), None, date(2026, 5, 1), True, "excepted"),
        ("open", None, None, date(2026, 5, 1), False, "within_sla"),
    ],
)
def test_sla_outcome(
    status: str,
    due: date | None,
    resolved_on: date | None,
    today: date,
    accepted: bool,
    expected: str,
) -> None:
    outcome = sla_outcome(
        status=status, due=due, resolved_on=resolved_on, today=today, accepted=accepted
    )
    assert outcome == expected
