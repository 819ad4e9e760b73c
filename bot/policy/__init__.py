"""Pure policy domain: the policy file, SLA arithmetic, reminder cadence, risk acceptance,
BOD 26-04 decision table and scan cadence. No database, no I/O beyond reading TOML/JSON."""

from bot.policy.acceptance import (
    expiry_warning_date,
    max_acceptance_days,
    max_acceptance_expiry,
    validate_acceptance,
)
from bot.policy.cadence import expected_windows, missed_windows
from bot.policy.loader import (
    DEFAULT_PRESET,
    PRESETS,
    PolicyError,
    default_policy,
    load_policy,
    load_policy_text,
    load_preset,
)
from bot.policy.models import SEVERITIES, Policy, Severity, severity_rank
from bot.policy.reminders import (
    ReminderSlot,
    SlotKind,
    due_slot,
    escalation_start,
    next_slot_after,
    reminder_slots_between,
)
from bot.policy.routing import assignee_for, is_exposed, jira_priority
from bot.policy.sla import (
    SlaOutcome,
    due_date,
    effective_severity,
    escalated_due,
    local_date,
    opens_ticket,
    remediation_days,
    sla_outcome,
    tighten,
)
from bot.policy.ssvc import Bod2604Outcome, SsvcInputs, bod_26_04_days, bod_26_04_outcome

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "SEVERITIES",
    "Bod2604Outcome",
    "Policy",
    "PolicyError",
    "ReminderSlot",
    "Severity",
    "SlaOutcome",
    "SlotKind",
    "SsvcInputs",
    "assignee_for",
    "bod_26_04_days",
    "bod_26_04_outcome",
    "default_policy",
    "due_date",
    "due_slot",
    "effective_severity",
    "escalated_due",
    "escalation_start",
    "expected_windows",
    "expiry_warning_date",
    "is_exposed",
    "jira_priority",
    "load_policy",
    "load_policy_text",
    "load_preset",
    "local_date",
    "max_acceptance_days",
    "max_acceptance_expiry",
    "missed_windows",
    "next_slot_after",
    "opens_ticket",
    "remediation_days",
    "reminder_slots_between",
    "severity_rank",
    "sla_outcome",
    "tighten",
    "validate_acceptance",
]
