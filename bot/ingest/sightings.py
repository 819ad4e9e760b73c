"""What the ingest pipeline needs of one Nuclei result, in a form cheap to pass between
processes: a large CLI ingest parses in a forked child (:mod:`bot.ingest.forked`) and hands
the writer these tuples, with the evidence already serialized.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson

from bot.ingest.evidence import finding_details
from integrations.nuclei import Identified, NucleiResult, Severity


class Sighting(NamedTuple):
    fingerprint: str
    grouping_key: str
    template_id: str
    name: str
    asset: str
    matcher_name: str
    protocol: str
    severity: Severity
    cve_ids: tuple[str, ...]
    timestamp: datetime | None
    # JSON text of ``finding_details``, stored as is for a new finding; None when the finding
    # is known to exist already (the evidence would be thrown away)
    evidence: str | None


def evidence_json(result: NucleiResult) -> str:
    return orjson.dumps(
        finding_details(result), option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS
    ).decode()


# A sighting as sent between processes: a plain tuple, its timestamp as whole microseconds
# since the epoch (exact for any datetime). Pickling a named tuple calls back into Python
# for each one, and a datetime costs more than the rest of the tuple: together they were a
# quarter of a re-ingest's parsing.
Wire = tuple[Any, ...]
_TIMESTAMP = Sighting._fields.index("timestamp")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def wire_of(result: NucleiResult | Identified, *, evidence: bool = True) -> Wire:
    """A result as its :class:`Sighting` crosses processes (:func:`from_wire` reads it back).
    An identified finding is completed only for its evidence: a known one never is."""
    timestamp = result.timestamp
    return (
        result.fingerprint,
        result.grouping_key,
        result.template_id,
        result.name,
        result.asset,
        result.matcher_name,
        result.protocol,
        result.severity,
        result.cve_ids,
        None if timestamp is None else (timestamp - _EPOCH) // _MICROSECOND,
        evidence_json(result.complete() if isinstance(result, Identified) else result)
        if evidence
        else None,
    )


def from_wire(wire: Wire) -> Sighting:
    micros = wire[_TIMESTAMP]
    if micros is None:
        return Sighting._make(wire)
    at = _EPOCH + timedelta(microseconds=micros)
    return Sighting._make((*wire[:_TIMESTAMP], at, *wire[_TIMESTAMP + 1 :]))


def evidence_text(result: NucleiResult | Sighting) -> str:
    """A result's evidence as JSON text: precomputed for a sighting, built for a result
    parsed in this process (only new findings need it, so it is not built for the rest)."""
    if type(result) is Sighting:
        if result.evidence is None:
            raise RuntimeError(
                f"finding {result.fingerprint} is new to this ingest but existed when it began"
            )
        return result.evidence
    assert isinstance(result, NucleiResult)
    return evidence_json(result)
