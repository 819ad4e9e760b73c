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


def hashed_bytes(
    at: str,
    recorded_at: str,
    kind: Any,
    ticket_id: Any,
    finding_id: Any,
    from_state: Any,
    to_state: Any,
    actor: Any,
    source: Any,
    external_id: Any,
    details_json: str | bytes,
) -> bytes:
    """``canonical_json`` of a row's hashed fields, given its times in :func:`iso_utc` spelling
    and the canonical JSON of its ``details`` (spliced in as it is, so what is hashed is what
    is stored). The keys are written in their sorted order, as OPT_SORT_KEYS would put them: one
    plain encoding, on the hot path of every append and every verification."""
    return orjson.dumps(
        {
            "actor": actor,
            "at": at,
            "details": orjson.Fragment(details_json),
            "external_id": external_id,
            "finding_id": finding_id,
            "from_state": from_state,
            "kind": kind,
            "recorded_at": recorded_at,
            "source": source,
            "ticket_id": ticket_id,
            "to_state": to_state,
        },
        option=orjson.OPT_UTC_Z,  # as canonical_json, should a caller pass a datetime
    )


def chain_hash(prev_hash: str, hashed: bytes) -> str:
    """A row's hash: sha256 over the previous row's hash and the row's hashed bytes."""
    return hashlib.sha256(prev_hash.encode("ascii") + hashed).hexdigest()


def row_digest(prev_hash: str, row: Mapping[str, Any]) -> str:
    return chain_hash(
        prev_hash,
        hashed_bytes(
            iso_utc(row["at"]),
            iso_utc(row["recorded_at"]),
            row["kind"],
            row["ticket_id"],
            row["finding_id"],
            row["from_state"],
            row["to_state"],
            row["actor"],
            row["source"],
            row["external_id"],
            canonical_json(row["details"]),
        ),
    )


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
