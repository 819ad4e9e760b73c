"""Slack edge: Block Kit builders, typed interaction payloads and the Notifier port.

No database here. The domain flows build messages with :mod:`.messages`, send them through a
:class:`Notifier` (:class:`SlackNotifier` with a bot token, :class:`ConsoleNotifier` without),
and parse interactions with :mod:`.payloads`.
"""

from __future__ import annotations

from .blocks import SlackMessage, escape_mrkdwn, escape_truncated, render_blocks
from .messages import (
    KEV_BADGE,
    MessageKind,
    TicketCard,
    acceptance_modal,
    approval_request_message,
    decision_message,
    due_phrase,
    reminder_message,
    scan_missed_message,
    snapshot_summary_message,
    text_message,
    thread_parent_message,
)
from .notifier import (
    DEFAULT_SLACK_API_URL,
    ConsoleNotifier,
    ConsoleRecord,
    Notifier,
    NotifierError,
    PostedMessage,
    SlackNotifier,
    to_notifier_error,
)
from .payloads import (
    AcceptanceForm,
    ActionId,
    BlockId,
    CallbackId,
    DecisionValue,
    InputActionId,
    ModalMetadata,
    PayloadError,
    RequestAcceptanceValue,
    parse_modal_submission,
)

__all__ = [
    "DEFAULT_SLACK_API_URL",
    "KEV_BADGE",
    "AcceptanceForm",
    "ActionId",
    "BlockId",
    "CallbackId",
    "ConsoleNotifier",
    "ConsoleRecord",
    "DecisionValue",
    "InputActionId",
    "MessageKind",
    "ModalMetadata",
    "Notifier",
    "NotifierError",
    "PayloadError",
    "PostedMessage",
    "RequestAcceptanceValue",
    "SlackMessage",
    "SlackNotifier",
    "TicketCard",
    "acceptance_modal",
    "approval_request_message",
    "decision_message",
    "due_phrase",
    "escape_mrkdwn",
    "escape_truncated",
    "parse_modal_submission",
    "reminder_message",
    "render_blocks",
    "scan_missed_message",
    "snapshot_summary_message",
    "text_message",
    "thread_parent_message",
    "to_notifier_error",
]
