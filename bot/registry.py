"""Which job kinds and scheduled items exist: the one place they are wired together."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.acceptances.service import schedule_expiries
from bot.cadence.service import schedule_cadence_check
from bot.clock.schedule import Scheduler
from bot.jobs.runner import Handler
from bot.kev.flows import refresh_job, schedule_refresh
from bot.notifications import jobs as notify
from bot.notifications.reminders import schedule_reminders, send_reminder
from bot.snapshots.service import schedule_weekly_snapshot, snapshot_job
from bot.trackers import flows as tracker
from bot.trackers.reconcile import reconcile_job, schedule_reconcile


def job_handlers() -> Mapping[str, Handler]:
    return {
        "kev.refresh": refresh_job,
        "tracker.create": tracker.create_issue,
        "tracker.update": tracker.update_issue,
        "tracker.comment": tracker.comment_issue,
        "tracker.reopen": tracker.reopen_issue,
        "tracker.reconcile": reconcile_job,
        "notify.reminder": send_reminder,
        "notify.ticket": notify.notify_ticket,
        "notify.unverified": notify.notify_unverified,
        "notify.approval_request": notify.notify_approval_request,
        "notify.decision": notify.notify_decision,
        "notify.expiry_warning": notify.notify_expiry_warning,
        "notify.acceptance_expired": notify.notify_acceptance_expired,
        "notify.snapshot": notify.notify_snapshot,
        "notify.scan_missed": notify.notify_scan_missed,
        "snapshot.weekly": snapshot_job,
    }


def schedulers() -> Sequence[Scheduler]:
    return [
        schedule_refresh,
        schedule_expiries,
        schedule_reminders,
        schedule_reconcile,
        schedule_cadence_check,
        schedule_weekly_snapshot,
    ]
