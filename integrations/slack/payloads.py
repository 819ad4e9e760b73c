"""Typed Slack interaction payloads: button values, modal private_metadata, modal submissions.

Button ``value`` and view ``private_metadata`` are strings that Slack hands back verbatim with
each interaction. They carry compact JSON of a pydantic model (as Dispatch does), so a listener
gets a validated object or a :class:`PayloadError` — never a half-parsed dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "MAX_PRIVATE_METADATA",
    "AcceptanceForm",
    "ActionId",
    "BlockId",
    "CallbackId",
    "DecisionValue",
    "InputActionId",
    "ModalMetadata",
    "PayloadError",
    "RequestAcceptanceValue",
    "parse_modal_submission",
]

MAX_PRIVATE_METADATA = 3000  # Slack's limit for view private_metadata
MAX_BUTTON_VALUE = 2000


class ActionId(StrEnum):
    """``action_id`` of the buttons slabot posts (route with ``app.action(ActionId.X)``)."""

    REQUEST_ACCEPTANCE = "risk_acceptance.request"
    APPROVE = "risk_acceptance.approve"
    REJECT = "risk_acceptance.reject"


class CallbackId(StrEnum):
    """``callback_id`` of slabot's modals (route with ``app.view(CallbackId.X)``)."""

    ACCEPTANCE_SUBMIT = "risk_acceptance.submit"


class BlockId(StrEnum):
    """``block_id`` of the acceptance modal's inputs; also the keys of ``response_action`` errors
    (they match the field names :func:`bot.policy.acceptance.validate_acceptance` returns)."""

    JUSTIFICATION = "justification"
    EXPIRES_ON = "expires_on"
    CONTROLS = "controls"
    DECISION = "risk_acceptance.decision"  # the actions block of an approval request


class InputActionId(StrEnum):
    """``action_id`` of the acceptance modal's input elements."""

    JUSTIFICATION = "justification_input"
    EXPIRES_ON = "expires_on_picker"
    CONTROLS = "controls_input"


class PayloadError(ValueError):
    """A button value, private_metadata or view submission is not what slabot sent."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    max_chars: ClassVar[int] = MAX_BUTTON_VALUE

    def dumps(self) -> str:
        """Compact JSON for a button ``value`` / ``private_metadata``."""
        text = self.model_dump_json(exclude_none=True)
        if len(text) > self.max_chars:
            raise PayloadError(
                f"{type(self).__name__} is {len(text)} characters; Slack allows {self.max_chars}"
            )
        return text

    @classmethod
    def loads(cls, raw: str | bytes | None) -> Self:
        """Parse what Slack handed back; any tampering or malformation raises PayloadError."""
        if raw is None or not isinstance(raw, str | bytes) or not raw:
            raise PayloadError(f"{cls.__name__}: empty or missing payload")
        if len(raw) > cls.max_chars:
            raise PayloadError(f"{cls.__name__}: payload too long ({len(raw)} characters)")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                for err in exc.errors(include_url=False)
            )
            raise PayloadError(f"invalid {cls.__name__} payload: {problems}") from None


class RequestAcceptanceValue(_Payload):
    """Value of the "Request risk acceptance" button."""

    ticket_id: int = Field(gt=0)


class DecisionValue(_Payload):
    """Value of the Approve / Reject buttons of an approval request."""

    request_id: int = Field(gt=0)


class ModalMetadata(_Payload):
    """``private_metadata`` of the acceptance modal: the context a view_submission lacks."""

    max_chars: ClassVar[int] = MAX_PRIVATE_METADATA

    ticket_id: int = Field(gt=0)
    channel: str | None = Field(default=None, max_length=64)
    thread_ts: str | None = Field(default=None, max_length=32)


class AcceptanceForm(BaseModel):
    """What the requester typed into the acceptance modal (not yet validated against policy)."""

    model_config = ConfigDict(frozen=True)

    justification: str
    expires_on: date | None
    controls: str | None


def _state_entry(values: Mapping[str, Any], block_id: str, action_id: str) -> Mapping[str, Any]:
    block = values.get(block_id)
    if block is None:
        return {}
    if not isinstance(block, Mapping):
        raise PayloadError(f"view state block {block_id!r} is not an object")
    entry = block.get(action_id)
    if entry is None and len(block) == 1:
        # Tolerate a renamed action_id: a block holds exactly one input element.
        entry = next(iter(block.values()))
    if entry is None:
        return {}
    if not isinstance(entry, Mapping):
        raise PayloadError(f"view state {block_id}.{action_id} is not an object")
    return entry


def _optional_str(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PayloadError(f"view state {where}.{key} is not a string")
    return value


def parse_modal_submission(view: Mapping[str, Any]) -> AcceptanceForm:
    """Read the acceptance modal's inputs from a ``view_submission`` payload's ``view``.

    Slack sends ``view.state.values[block_id][action_id]`` with ``value`` for a text input and
    ``selected_date`` (``YYYY-MM-DD``) for a datepicker; an untouched optional input is ``None``.
    The justification is stripped (empty string when missing); empty controls become None.
    """
    if not isinstance(view, Mapping):
        raise PayloadError("view is not an object")
    state = view.get("state")
    values = state.get("values") if isinstance(state, Mapping) else None
    if not isinstance(values, Mapping):
        raise PayloadError("view has no state.values")

    just = _state_entry(values, BlockId.JUSTIFICATION, InputActionId.JUSTIFICATION)
    justification = _optional_str(just, "value", BlockId.JUSTIFICATION) or ""

    picked = _state_entry(values, BlockId.EXPIRES_ON, InputActionId.EXPIRES_ON)
    raw_date = _optional_str(picked, "selected_date", BlockId.EXPIRES_ON)
    expires_on: date | None = None
    if raw_date:
        try:
            expires_on = date.fromisoformat(raw_date)
        except ValueError:
            raise PayloadError(f"expires_on: {raw_date!r} is not a YYYY-MM-DD date") from None

    ctl = _state_entry(values, BlockId.CONTROLS, InputActionId.CONTROLS)
    controls = (_optional_str(ctl, "value", BlockId.CONTROLS) or "").strip() or None

    return AcceptanceForm(
        justification=justification.strip(), expires_on=expires_on, controls=controls
    )
