"""CISA BOD 26-04 remediation timelines from the SSVC decision table.

The table (shipped as ``presets/cisa_bod_26_04_decision_table.json``, a compact transcription
of CISA's 16-row table v1.0.0) maps In KEV x Publicly Exposed x Automatable x Technical Impact
to one of: fix on system upgrade (no calendar deadline), 60 days, 14 days, 3 days, or 3 days
plus a forensic triage of the asset.

Unknown inputs (None) take the *strictest* outcome over the values they could have: the rule
is evaluated for every completion of the unknown inputs and the shortest deadline wins (ties go
to the outcome that asks for forensic triage). With this table an unknown Automatable behaves
as "yes" and an unknown Technical Impact as "total"; an unknown In KEV / Publicly Exposed (only
possible through :class:`SsvcInputs`) behaves as "yes".
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

TABLE_FILE = "cisa_bod_26_04_decision_table.json"
_TI = {"partial": "P", "p": "P", "total": "T", "t": "T"}


@dataclass(frozen=True, slots=True)
class Bod2604Outcome:
    key: str  # FSU | 60D | 14D | 3D | 3DF
    label: str
    days: int | None  # None = fix on the next system upgrade (no calendar deadline)
    forensic_triage: bool


@dataclass(frozen=True, slots=True)
class SsvcInputs:
    """Decision-table inputs for one finding. None = unknown (strictest outcome)."""

    in_kev: bool | None = None
    exposed: bool | None = None
    automatable: bool | None = None
    technical_impact: str | None = None  # "partial" | "total" (case-insensitive) | None


@dataclass(frozen=True, slots=True)
class _Table:
    outcomes: dict[str, Bod2604Outcome]
    rows: dict[str, str]


@cache
def _table() -> _Table:
    raw: dict[str, Any] = json.loads(
        resources.files("bot.policy").joinpath("presets").joinpath(TABLE_FILE).read_text("utf-8")
    )
    outcomes = {
        key: Bod2604Outcome(key, o["label"], o["days"], bool(o["forensic_triage"]))
        for key, o in raw["outcomes"].items()
    }
    rows: dict[str, str] = dict(raw["rows"])
    expected = {"".join(c) for c in itertools.product("NY", "NY", "NY", "PT")}
    if set(rows) != expected or not set(rows.values()) <= set(outcomes):
        raise RuntimeError(f"{TABLE_FILE}: the decision table is incomplete or inconsistent")
    return _Table(outcomes, rows)


def _strictness(outcome: Bod2604Outcome) -> tuple[float, int]:
    days = float("inf") if outcome.days is None else float(outcome.days)
    return (days, 0 if outcome.forensic_triage else 1)


def _yn(value: bool | None) -> str:
    if value is None:
        return "NY"
    return "Y" if value else "N"


def _ti(value: str | None) -> str:
    if value is None:
        return "PT"
    try:
        return _TI[value.strip().lower()]
    except KeyError:
        raise ValueError(
            f"technical_impact must be 'partial', 'total' or None, got {value!r}"
        ) from None


def ssvc_outcome(inputs: SsvcInputs) -> Bod2604Outcome:
    """The decision-table outcome; unknown inputs take the strictest possible outcome."""
    table = _table()
    candidates = [
        table.outcomes[table.rows["".join(combo)]]
        for combo in itertools.product(
            _yn(inputs.in_kev),
            _yn(inputs.exposed),
            _yn(inputs.automatable),
            _ti(inputs.technical_impact),
        )
    ]
    return min(candidates, key=_strictness)


def bod_26_04_outcome(
    *, in_kev: bool, exposed: bool, automatable: bool | None, technical_impact: str | None
) -> Bod2604Outcome:
    return ssvc_outcome(SsvcInputs(in_kev, exposed, automatable, technical_impact))


def bod_26_04_days(
    *, in_kev: bool, exposed: bool, automatable: bool | None, technical_impact: str | None
) -> int | None:
    """Days to remediate under BOD 26-04, or None for "fix on system upgrade".

    Unknown ``automatable`` / ``technical_impact`` (None) take the stricter outcome.
    """
    return bod_26_04_outcome(
        in_kev=in_kev, exposed=exposed, automatable=automatable, technical_impact=technical_impact
    ).days
