from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.policy import (
    assignee_for,
    default_policy,
    expected_windows,
    is_exposed,
    jira_priority,
    load_policy_text,
    missed_windows,
)

CRON = "0 2 * * 1"  # Monday 02:00 UTC
GRACE = timedelta(hours=24)


def _dt(day: int, hour: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def test_expected_windows_weekly() -> None:
    windows = expected_windows(CRON, GRACE, _dt(1), _dt(31))
    # Runs on Mondays 2, 9, 16, 23, 30 March; each window ends grace after its run and starts
    # where the previous one ended.
    assert [end for _, end in windows] == [
        _dt(3, 2),
        _dt(10, 2),
        _dt(17, 2),
        _dt(24, 2),
        _dt(31, 2),
    ]
    assert windows[0][0] == datetime(2026, 2, 24, 2, tzinfo=UTC)
    for (_, end), (start, _) in itertools.pairwise(windows):
        assert end == start


def test_expected_windows_bounds() -> None:
    # A run exactly at start is included; a run exactly at end is not.
    windows = expected_windows(CRON, GRACE, _dt(2, 2), _dt(16, 2))
    assert [end - GRACE for _, end in windows] == [_dt(2, 2), _dt(9, 2)]
    with pytest.raises(ValueError, match="naive"):
        expected_windows(CRON, GRACE, datetime(2026, 3, 1), _dt(3))
    with pytest.raises(ValueError, match="negative"):
        expected_windows(CRON, -GRACE, _dt(1), _dt(3))


def test_missed_windows() -> None:
    scans = [
        _dt(2, 3),  # on time for 2 March
        _dt(10, 1),  # 23 h late: still inside grace for 9 March
        # nothing for 16 March
        _dt(22, 12),  # a day early: counts for 23 March
        # 30 March window still open at now
    ]
    now = _dt(31, 1)
    missed = missed_windows(CRON, GRACE, scans, _dt(1), _dt(31), now)
    assert missed == [(_dt(10, 2), _dt(17, 2))]
    # Once the last window closes without a scan it is missed too.
    later = missed_windows(CRON, GRACE, scans, _dt(1), _dt(31), _dt(31, 2))
    assert later[-1] == (_dt(24, 2), _dt(31, 2))
    # Zero grace: a scan must come by the run time.
    strict = missed_windows(CRON, timedelta(0), [_dt(2, 1)], _dt(1), _dt(9), _dt(9))
    assert strict == []


def test_assignees_first_match() -> None:
    policy = load_policy_text(
        "[[assignees]]\n"
        'pattern = "*.PAY.example.com"\n'
        'email = "pay@example.com"\n'
        "[[assignees]]\n"
        'pattern = "CVE-2024-*"\n'
        'email = "platform@example.com"\n'
        "[[assignees]]\n"
        'pattern = "*"\n'
        'email = "sec@example.com"\n',
        "p.toml",
    )
    assert assignee_for(policy, asset="https://api.pay.example.com:8443", template_id="x") == (
        "pay@example.com"
    )
    assert assignee_for(policy, asset="db.internal:5432", template_id="cve-2024-1234") == (
        "platform@example.com"
    )
    assert assignee_for(policy, asset="other", template_id="tech-detect") == "sec@example.com"
    assert assignee_for(default_policy(), asset="other", template_id="x") is None


def test_exposure() -> None:
    policy = load_policy_text(
        '[exposure]\ninternet_exposed = ["*.example.com", "203.0.113.*"]\n', "p.toml"
    )
    assert is_exposed(policy, "https://www.example.com")
    assert is_exposed(policy, "203.0.113.7:443")
    assert not is_exposed(policy, "http://10.0.0.1")
    assert not is_exposed(default_policy(), "https://www.example.com")


def test_jira_priority() -> None:
    assert jira_priority(default_policy(), "critical") == "Highest"
    assert jira_priority(default_policy(), "low") == "Low"
    custom = load_policy_text('[jira]\npriority = { critical = "P1" }\n', "p.toml")
    assert jira_priority(custom, "critical") == "P1"
    assert jira_priority(custom, "high") == "High"
