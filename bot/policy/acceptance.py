"""Risk-acceptance rules: maximum duration, validation of a request, expiry warning.

Errors are returned as ``{field: message}`` so the Slack modal can show each one next to its
input (``justification``, ``expires_on``).
"""

from __future__ import annotations

from datetime import date, timedelta

from bot.policy.models import Policy, Severity


def max_acceptance_days(policy: Policy, *, severity: Severity, kev: bool) -> int:
    """``max_days_critical`` for a critical or KEV-listed finding, else ``max_days``."""
    ra = policy.risk_acceptance
    return ra.max_days_critical if kev or severity == "critical" else ra.max_days


def max_acceptance_expiry(
    policy: Policy, *, severity: Severity, kev: bool, requested_on: date
) -> date:
    """The latest ``expires_on`` an acceptance requested on ``requested_on`` may have."""
    return requested_on + timedelta(days=max_acceptance_days(policy, severity=severity, kev=kev))


def validate_acceptance(
    policy: Policy,
    *,
    severity: Severity,
    kev: bool,
    justification: str | None,
    expires_on: date | None,
    today: date,
) -> dict[str, str]:
    """Problems with a risk-acceptance request, keyed by field; empty when it is acceptable."""
    errors: dict[str, str] = {}
    need = policy.risk_acceptance.min_justification_chars
    text = (justification or "").strip()
    if not text:
        errors["justification"] = "A justification is required."
    elif len(text) < need:
        errors["justification"] = (
            f"The justification must be at least {need} characters (got {len(text)})."
        )
    if expires_on is None:
        errors["expires_on"] = "An expiry date is required."
    elif expires_on <= today:
        errors["expires_on"] = "The expiry date must be after today."
    else:
        latest = max_acceptance_expiry(policy, severity=severity, kev=kev, requested_on=today)
        if expires_on > latest:
            days = max_acceptance_days(policy, severity=severity, kev=kev)
            what = "a KEV-listed" if kev else f"a {severity}"
            errors["expires_on"] = (
                f"Risk acceptance for {what} finding may last at most {days} days "
                f"(until {latest.isoformat()})."
            )
    return errors


def expiry_warning_date(policy: Policy, expires_on: date) -> date:
    """The day the "expires soon" warning is due (``expiry_warning_days`` before expiry)."""
    return expires_on - timedelta(days=policy.risk_acceptance.expiry_warning_days)
