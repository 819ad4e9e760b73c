"""Verifying the event log's hash chain over raw driver rows.

The hash rule is :func:`bot.events.chain.row_digest`'s, with one shortcut: on SQLite a
timestamp is stored as ``YYYY-MM-DD HH:MM:SS.ffffff`` (naive UTC), which is already the hashed
ISO spelling but for the ``T`` and the ``Z``, and ``details`` is stored as the canonical JSON
text that was hashed, so the hashed bytes are assembled around it without decoding it
(:func:`bot.events.chain.hashed_bytes`, as the append did). Any
other spelling, and any row whose shortcut bytes do not match (tampering included), takes the
exact path, which names the break. The tests check this against
:func:`bot.events.chain.verify_rows` on intact and tampered logs.

No SQLAlchemy here: the snapshot's verifier process (:mod:`bot.snapshots.verifier`) imports
this module alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from bot.events.chain import (
    GENESIS_HASH,
    HASHED_FIELDS,
    Break,
    ChainReport,
    canonical_json,
    chain_hash,
    hashed_bytes,
    iso_utc,
)

# The columns of a raw event row, in the order every reader selects them.
EVENT_COLUMNS = ("seq", *HASHED_FIELDS, "prev_hash", "hash")
SELECT_EVENTS = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"  # noqa: S608
_PLAIN = EVENT_COLUMNS[3:11]  # kind … external_id: the columns stored as they are hashed

Iso = Callable[[Any], str]


def sqlite_iso(raw: Any) -> str:
    """The hashed spelling of a time as SQLite returns it (text), quickly when it is slabot's
    own ``YYYY-MM-DD HH:MM:SS.ffffff``."""
    if isinstance(raw, str) and len(raw) == 26 and raw[10] == " ":
        return f"{raw[:10]}T{raw[11:]}Z"
    return iso_utc(as_datetime(raw))


def any_iso(raw: Any) -> str:
    return iso_utc(as_datetime(raw))


def as_datetime(raw: Any) -> datetime:
    value = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).rstrip("Z"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def from_iso(value: str) -> datetime:
    """Back from the ``...Z`` spelling (fixed width) to an aware datetime."""
    return datetime.fromisoformat(value[:-1]).replace(tzinfo=UTC)


def details_of(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str | bytes):
        raw = orjson.loads(raw)
    return raw if isinstance(raw, dict) else {}


def plain_columns(raw: Any) -> dict[str, Any]:
    """The plain columns of a raw row, shared by the exact hash check and the replay."""
    return dict(zip(_PLAIN, raw[3:11], strict=True))


class ChainChecker:
    """:func:`bot.events.chain.verify_rows`, fed one row at a time."""

    def __init__(self) -> None:
        self.expected_seq = 1
        self.prev_hash = GENESIS_HASH
        self.checked = 0
        self.broken: Break | None = None

    def check(self, seq: int, payload: dict[str, Any], prev_hash: str, row_hash: str) -> None:
        """``payload``: the hashed fields, times already in their ISO spelling."""
        if self.broken is not None:
            return
        if seq != self.expected_seq:
            self.broken = Break(
                self.expected_seq,
                "missing",
                f"rows {self.expected_seq}..{seq - 1} are missing (next present row is {seq})",
            )
            return
        digest = chain_hash(prev_hash, canonical_json(payload))
        if digest != row_hash:
            self.broken = Break(
                seq, "modified", "content does not match its hash (row was modified)"
            )
            return
        if prev_hash != self.prev_hash:
            self.broken = Break(
                seq,
                "reordered",
                "prev_hash does not link to the previous row "
                "(rows were reordered, or a row was replaced)",
            )
            return
        self.prev_hash = row_hash
        self.checked += 1
        self.expected_seq += 1

    def check_fast(self, seq: int, body: bytes, prev_hash: str, row_hash: str) -> bool:
        """Accept the row if ``body`` hashes to it and it links; False means "use check"."""
        if self.broken is not None:
            return True
        if (
            seq != self.expected_seq
            or prev_hash != self.prev_hash
            or chain_hash(prev_hash, body) != row_hash
        ):
            return False
        self.prev_hash = row_hash
        self.checked += 1
        self.expected_seq += 1
        return True

    def check_raw(self, raw: Any, at_iso: str, rec_iso: str) -> dict[str, Any] | None:
        """Check one raw row (times already spelled); its decoded ``details`` when the exact
        path had to decode them, else None."""
        seq, _, _, kind, tid, fid, from_, to, actor, source, ext, det, prev, row_hash = raw
        if isinstance(det, str) and self.check_fast(
            int(seq),
            hashed_bytes(at_iso, rec_iso, kind, tid, fid, from_, to, actor, source, ext, det),
            prev,
            row_hash,
        ):
            return None
        details = details_of(det)
        payload = {**plain_columns(raw), "at": at_iso, "recorded_at": rec_iso, "details": details}
        self.check(int(seq), payload, prev, row_hash)
        return details

    def report(self) -> ChainReport:
        return ChainReport(self.checked, self.expected_seq - 1, self.prev_hash, self.broken)


@dataclass(frozen=True, slots=True)
class VerifiedPrefix:
    """The chain over the rows up to a head, and which of them were recorded before the
    cutoff: how many (``replayed``), and the last (``head_seq``, ``head_hash``)."""

    chain: ChainReport
    replayed: int
    head_seq: int
    head_hash: str

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, data: bytes) -> VerifiedPrefix:
        raw = orjson.loads(data)
        chain = raw["chain"]
        broken = chain["broken"]
        return cls(
            chain=ChainReport(
                int(chain["checked"]),
                int(chain["head_seq"]),
                str(chain["head_hash"]),
                None
                if broken is None
                else Break(int(broken["seq"]), broken["problem"], str(broken["reason"])),
            ),
            replayed=int(raw["replayed"]),
            head_seq=int(raw["head_seq"]),
            head_hash=str(raw["head_hash"]),
        )


def verify_prefix(rows: Iterable[Any], *, iso: Iso, cutoff_iso: str) -> VerifiedPrefix:
    """Verify raw rows (oldest first) and count those recorded before the cutoff."""
    checker = ChainChecker()
    replayed, head_seq, head_hash = 0, 0, GENESIS_HASH
    for raw in rows:
        rec_iso = iso(raw[2])
        checker.check_raw(raw, iso(raw[1]), rec_iso)
        if rec_iso < cutoff_iso:
            replayed += 1
            seq = int(raw[0])
            if seq > head_seq:
                head_seq, head_hash = seq, raw[13]
    return VerifiedPrefix(checker.report(), replayed, head_seq, head_hash)
