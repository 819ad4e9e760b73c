from __future__ import annotations

from pathlib import Path

import pytest

from bot.policy import (
    DEFAULT_PRESET,
    PRESETS,
    Policy,
    PolicyError,
    default_policy,
    load_policy,
    load_policy_text,
    load_preset,
)
from bot.policy.loader import key_lines

PRESET_DIR = Path(__file__).resolve().parents[2] / "bot" / "policy" / "presets"


def _error(text: str, source: str = "policy.toml") -> str:
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, source)
    return str(info.value)


def test_default_is_nist_30_60_90() -> None:
    policy = load_policy(None)
    assert policy == default_policy()
    assert policy.preset == DEFAULT_PRESET == "nist-800-40r4"
    assert policy.days_table() == {
        "critical": 30,
        "high": 60,
        "medium": 90,
        "low": None,
        "info": None,
        "unknown": None,
    }
    assert policy.min_ticket_severity == "medium"
    assert policy.grouping == "template_asset"
    assert policy.clock_start == "first_seen"
    assert policy.kev.escalate_to == "critical"
    assert policy.kev.kev_due_date is False
    r = policy.reminders
    assert (r.hour, r.weekly_interval_days, r.daily_window_days) == (9, 7, 7)
    assert (r.escalate_after_overdue_days, r.escalation_interval_days) == (3, 7)
    ra = policy.risk_acceptance
    assert (ra.max_days, ra.max_days_critical) == (90, 30)
    assert (ra.min_justification_chars, ra.expiry_warning_days) == (20, 7)
    assert policy.scan_cadence.cron == "0 2 * * 1"
    assert policy.scan_cadence.grace_hours == 24
    assert policy.scan_cadence.targets == ()


def test_nist_citation_is_honest() -> None:
    text = default_policy().citation.text
    assert "organization" in text
    assert "common" in text and "practice" in text
    assert "http" not in default_policy().citation.source


def test_model_defaults_match_default_preset() -> None:
    nist = default_policy()
    built = Policy(name=nist.name, citation=nist.citation, preset=nist.preset)
    assert built == nist


@pytest.mark.parametrize(
    ("preset", "days", "min_severity"),
    [
        ("nist-800-40r4", (30, 60, 90, None), "medium"),
        ("fedramp-rev5", (30, 30, 90, 180), "low"),
        ("pci-dss-4", (30, 90, 90, None), "medium"),
        ("cisa-bod-26-04", (None, None, None, None), "medium"),
    ],
)
def test_presets(preset: str, days: tuple[int | None, ...], min_severity: str) -> None:
    policy = load_preset(preset)
    assert policy.preset == preset
    assert policy.name == preset
    table = policy.days_table()
    assert (table["critical"], table["high"], table["medium"], table["low"]) == days
    assert policy.min_ticket_severity == min_severity
    assert policy.citation.text and policy.citation.source
    assert policy.bod_26_04.enabled is (preset == "cisa-bod-26-04")


def test_every_preset_file_is_listed() -> None:
    assert sorted(p.stem for p in PRESET_DIR.glob("*.toml")) == sorted(PRESETS)


def test_pci_citation_says_entity_defined() -> None:
    text = load_preset("pci-dss-4").citation.text
    assert "entity defines" in text and "6.3.3" in text


def test_preset_override_merges_keys(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(
        'preset = "fedramp-rev5"\n'
        'name = "acme"\n'
        "[remediation_days]\n"
        "high = 15\n"
        "low = false\n"
        "[reminders]\n"
        "hour = 10\n"
        "[[assignees]]\n"
        'pattern = "*.acme.test"\n'
        'email = "ops@acme.test"\n',
        encoding="utf-8",
    )
    policy = load_policy(path)
    assert policy.preset == "fedramp-rev5"
    assert policy.name == "acme"
    assert policy.days_table()["critical"] == 30
    assert policy.days_table()["high"] == 15
    assert policy.days_table()["medium"] == 90
    assert policy.days_table()["low"] is None
    assert policy.reminders.hour == 10
    assert policy.reminders.weekly_interval_days == 7
    assert policy.assignees[0].email == "ops@acme.test"
    assert policy.citation == load_preset("fedramp-rev5").citation


def test_preset_argument_is_the_base() -> None:
    policy = load_policy_text("[remediation_days]\nmedium = 60\n", "p.toml", preset="pci-dss-4")
    assert policy.preset == "pci-dss-4"
    assert policy.days_table()["high"] == 90
    assert policy.days_table()["medium"] == 60
    assert load_policy(None, preset="fedramp-rev5").preset == "fedramp-rev5"


def test_conflicting_preset_argument() -> None:
    with pytest.raises(PolicyError, match=r"p\.toml line 1: preset: the file says"):
        load_policy_text('preset = "pci-dss-4"\n', "p.toml", preset="fedramp-rev5")


def test_empty_file_is_default() -> None:
    assert load_policy_text("", "empty.toml") == default_policy()


def test_bad_type_names_file_line_and_key() -> None:
    text = 'name = "acme"\n\n# days\n[remediation_days]\ncritical = 30\nhigh = 60\n'
    text += 'medium = "thirty"\n'
    assert _error(text) == (
        'policy.toml line 7: remediation_days.medium: must be a positive integer, got "thirty"'
    )


@pytest.mark.parametrize("bad", ["0", "-5", "1.5", "true"])
def test_days_must_be_positive_integers(bad: str) -> None:
    message = _error(f"[remediation_days]\ncritical = {bad}\n")
    assert message.startswith("policy.toml line 2: remediation_days.critical: must be a positive")


def test_unknown_key_is_an_error_with_suggestion() -> None:
    text = "[reminders]\nhour = 9\nweekly_intervall_days = 5\n"
    assert _error(text) == (
        "policy.toml line 3: reminders.weekly_intervall_days: unknown key "
        '(did you mean "weekly_interval_days"?)'
    )


def test_unknown_top_level_key_and_table() -> None:
    assert _error('nmae = "x"\n') == 'policy.toml line 1: nmae: unknown key (did you mean "name"?)'
    assert _error("\n[reminder]\nhour = 9\n").startswith(
        "policy.toml line 2: reminder: unknown key"
    )


def test_dotted_keys_and_inline_tables() -> None:
    assert _error('name = "n"\nremediation_days.high = "soon"\n').startswith(
        "policy.toml line 2: remediation_days.high: must be a positive integer"
    )
    message = _error('[jira]\npriority = { critical = "P1", urgent = "P0" }\n')
    assert message == "policy.toml line 2: jira.priority.urgent: unknown key"
    assert _error('[jira.priority]\nhihg = "P2"\n') == (
        'policy.toml line 2: jira.priority.hihg: unknown key (did you mean "high"?)'
    )


def test_array_of_tables_error_points_at_the_element() -> None:
    text = (
        "[[assignees]]\n"
        'pattern = "a*"\n'
        'email = "a@example.com"\n'
        "\n"
        "[[assignees]]\n"
        'pattern = "b*"\n'
        'email = "not-an-email"\n'
    )
    assert _error(text) == (
        'policy.toml line 7: assignees[1].email: must be an email address, got "not-an-email"'
    )
    missing = _error('[[assignees]]\npattern = "a*"\n')
    assert missing == "policy.toml line 1: assignees[0].email: required key is missing"


def test_several_problems_one_line_each_in_file_order() -> None:
    text = '[kev]\nescalate_to = "severe"\n[reminders]\nhour = 24\n[scan_cadence]\ncron = "x"\n'
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, "policy.toml")
    assert info.value.problems == (
        "policy.toml line 2: kev.escalate_to: must be 'critical', 'high', 'medium', 'low', "
        """'info' or 'unknown', got "severe\"""",
        "policy.toml line 4: reminders.hour: must be an hour from 0 to 23, got 24",
        'policy.toml line 6: scan_cadence.cron: must be a cron expression, got "x"',
    )


def test_bool_is_strict() -> None:
    assert _error('[kev]\nkev_due_date = "yes"\n') == (
        'policy.toml line 2: kev.kev_due_date: must be a valid boolean, got "yes"'
    )


def test_toml_syntax_error_is_wrapped_with_line() -> None:
    message = _error('name = "x"\n[reminders]\nhour = = 9\n')
    assert message.startswith("policy.toml line 3: invalid TOML: ")
    assert "(at line 3, column" in message


def test_bad_preset_name() -> None:
    message = _error('# comment\n\npreset = "fedramp"\n')
    assert message == (
        'policy.toml line 3: preset: unknown preset "fedramp"; available: '
        "cisa-bod-26-04, fedramp-rev5, nist-800-40r4, pci-dss-4"
    )
    assert _error("preset = 5\n") == "policy.toml line 1: preset: must be a string, got 5"
    with pytest.raises(PolicyError, match='unknown preset "nope"'):
        load_preset("nope")
    with pytest.raises(PolicyError, match='unknown preset "nope"'):
        load_policy(None, preset="nope")


def test_multiline_values_do_not_confuse_line_search() -> None:
    text = (
        "[citation]\n"
        'text = """\n'
        "hour = 3\n"
        '"""\n'
        'source = "s"\n'
        "[scan_cadence]\n"
        "targets = [\n"
        '  "a=b",\n'
        '  "c",\n'
        "]\n"
        "grace_hours = -1\n"
    )
    assert _error(text) == (
        "policy.toml line 11: scan_cadence.grace_hours: must be an integer >= 0, got -1"
    )


def test_key_lines_map() -> None:
    lines = key_lines("a = 1\n[t]\nb = 2\n[[arr]]\nc = 3\n[[arr]]\nc = 4\n[arr.sub]\nd = 5\n")
    assert lines[("a",)] == 1
    assert lines[("t", "b")] == 3
    assert lines[("arr", "0", "c")] == 5
    assert lines[("arr", "1", "c")] == 7
    assert lines[("arr", "1", "sub", "d")] == 9


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match=r"nope\.toml: cannot read the policy file"):
        load_policy(missing)


def test_policy_is_frozen_and_hashable() -> None:
    policy = default_policy()
    assert hash(policy) == hash(load_policy(None))
    with pytest.raises(ValueError, match="frozen"):
        policy.name = "x"  # type: ignore[misc]
