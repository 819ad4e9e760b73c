"""Pure hash-chain rules for the event log.

``hash = sha256(prev_hash + canonical_json(row))`` where the row is every column except
``seq``, ``prev_hash`` and ``hash``. The sequence number is not hashed on purpose: order is
protected by the ``prev_hash`` links, so a swapped pair of rows is reported as *reordered*,
a changed row as *modified* and a gap in ``seq`` as *missing* — three different stories an
auditor needs told apart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

GENESIS_HASH = "0" * 64
HASHED_FIELDS = (
    "at",
    "recorded_at",
    "kind",
    "ticket_id",
    "finding_id",
    "from_state",
    "to_state",
    "actor",
    "source",
    "external_id",
    "details",
)


def iso_utc(value: datetime) -> str:
    """ISO-8601 UTC with microseconds and ``Z``: the one spelling used in hashes and output."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: Any) -> bytes:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)


def normalize_details(details: Mapping[str, Any] | None) -> dict[str, Any]:
    """JSON-native copy of ``details`` (dates to strings), so what is hashed is what is stored."""
    if not details:
        return {}
    normalized: dict[str, Any] = orjson.loads(canonical_json(dict(details)))
    return normalized


def event_digest(prev_hash: str, fields: dict[str, Any], details_json: bytes) -> str:
    """The hash of a row given its hashed fields but ``details`` (times already in
    :func:`iso_utc` spelling) and the canonical JSON of its ``details``: appending computes
    ``details``' canonical bytes once and stores the same text it hashes."""
    fields["details"] = orjson.Fragment(details_json)
    return hashlib.sha256(prev_hash.encode("ascii") + canonical_json(fields)).hexdigest()


def row_digest(prev_hash: str, row: Mapping[str, Any]) -> str:
    payload = {name: row[name] for name in HASHED_FIELDS if name != "details"}
    payload["at"] = iso_utc(payload["at"])
    payload["recorded_at"] = iso_utc(payload["recorded_at"])
    return event_digest(prev_hash, payload, canonical_json(row["details"]))


Problem = Literal["modified", "missing", "reordered", "truncated"]


@dataclass(frozen=True, slots=True)
class Break:
    seq: int
    problem: Problem
    reason: str


@dataclass(frozen=True, slots=True)
class ChainReport:
    checked: int
    head_seq: int
    head_hash: str
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify_rows(rows: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Walk rows in ``seq`` order and stop at the first break."""
    expected_seq = 1
    prev_hash = GENESIS_HASH
    checked = 0
    for row in rows:
        seq = int(row["seq"])
        if seq != expected_seq:
            return ChainReport(
                checked,
                expected_seq - 1,
                prev_hash,
                Break(
                    expected_seq,
                    "missing",
                    f"rows {expected_seq}..{seq - 1} are missing (next present row is {seq})",
                ),
            )
        self_consistent = row_digest(row["prev_hash"], row) == row["hash"]
        if not self_consistent:
            return ChainReport(
                checked,
                seq - 1,
                prev_hash,
                Break(seq, "modified", "content does not match its hash (row was modified)"),
            )
        if row["prev_hash"] != prev_hash:
            return ChainReport(
                checked,
                seq - 1,
                prev_hash,
                Break(
                    seq,
                    "reordered",
                    "prev_hash does not link to the previous row "
                    "(rows were reordered, or a row was replaced)",
                ),
            )
        prev_hash = row["hash"]
        checked += 1
        expected_seq += 1
    return ChainReport(checked, expected_seq - 1, prev_hash, None)
