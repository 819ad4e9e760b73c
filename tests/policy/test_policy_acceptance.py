from __future__ import annotations

from datetime import date

import pytest

from bot.policy import (
    default_policy,
    expiry_warning_date,
    load_policy_text,
    max_acceptance_days,
    max_acceptance_expiry,
    validate_acceptance,
)

POLICY = default_policy()
TODAY = date(2026, 3, 2)
GOOD = "Compensating WAF rule deployed; vendor fix scheduled for Q2."


@pytest.mark.parametrize(
    ("severity", "kev", "days"),
    [("critical", False, 30), ("high", True, 30), ("low", True, 30), ("high", False, 90)],
)
def test_max_expiry(severity: str, kev: bool, days: int) -> None:
    assert max_acceptance_days(POLICY, severity=severity, kev=kev) == days  # type: ignore[arg-type]
    expiry = max_acceptance_expiry(POLICY, severity=severity, kev=kev, requested_on=TODAY)  # type: ignore[arg-type]
    assert (expiry - TODAY).days == days


def _validate(justification: str | None, expires_on: date | None, **kw: object) -> dict[str, str]:
    return validate_acceptance(
        POLICY,
        severity=kw.get("severity", "high"),  # type: ignore[arg-type]
        kev=bool(kw.get("kev", False)),
        justification=justification,
        expires_on=expires_on,
        today=TODAY,
    )


def test_valid_request() -> None:
    assert _validate(GOOD, date(2026, 5, 31)) == {}
    assert _validate(GOOD, date(2026, 4, 1), severity="critical") == {}


def test_justification_rules() -> None:
    assert _validate(None, date(2026, 4, 1)) == {"justification": "A justification is required."}
    assert _validate("   ", date(2026, 4, 1)) == {"justification": "A justification is required."}
    assert _validate("too short", date(2026, 4, 1)) == {
        "justification": "The justification must be at least 20 characters (got 9)."
    }
    lax = load_policy_text("[risk_acceptance]\nmin_justification_chars = 5\n", "p.toml")
    errors = validate_acceptance(
        lax,
        severity="high",
        kev=False,
        justification="short",
        expires_on=date(2026, 4, 1),
        today=TODAY,
    )
    assert errors == {}


def test_expiry_rules() -> None:
    assert _validate(GOOD, None) == {"expires_on": "An expiry date is required."}
    assert _validate(GOOD, TODAY) == {"expires_on": "The expiry date must be after today."}
    assert _validate(GOOD, date(2026, 5, 31)) == {}
    assert _validate(GOOD, date(2026, 6, 1)) == {
        "expires_on": "Risk acceptance for a high finding may last at most 90 days "
        "(until 2026-05-31)."
    }
    assert _validate(GOOD, date(2026, 4, 2), kev=True) == {
        "expires_on": "Risk acceptance for a KEV-listed finding may last at most 30 days "
        "(until 2026-04-01)."
    }
    both = _validate("", date(2026, 1, 1))
    assert set(both) == {"justification", "expires_on"}


def test_expiry_warning() -> None:
    assert expiry_warning_date(POLICY, date(2026, 4, 1)) == date(2026, 3, 25)
