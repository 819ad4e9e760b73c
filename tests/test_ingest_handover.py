"""What crosses from a forked parser to the writer: sightings as plain tuples that come back
unchanged, with their display evidence, and the ids of the findings that already existed,
read on a connection of the parser's own."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.ingest import sightings
from bot.ingest.known import CommittedFingerprints
from integrations.nuclei import NucleiResult, iter_results
from tests.helpers_ingest import jsonl, record


def test_sightings_carry_the_display_evidence(tmp_path: Path) -> None:
    [result] = [
        r
        for r in iter_results([jsonl([record("x", request="GET / HTTP/1.1\r\n\r\n")])])
        if isinstance(r, NucleiResult)
    ]
    sighting = sightings.from_wire(sightings.wire_of(result))
    assert sighting.evidence == sightings.evidence_text(result)
    assert sightings.evidence_text(sighting) is sighting.evidence
    assert (sighting.fingerprint, sighting.severity) == (result.fingerprint, result.severity)


@pytest.mark.parametrize(
    "timestamp",
    [
        None,
        "2026-03-01T10:00:00.123456Z",
        "0001-01-01T00:00:00Z",
        "1969-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59.999999+00:00",
        "2026-03-01T10:00:00.123456789+05:30",
    ],
)
def test_a_sighting_crosses_processes_unchanged(timestamp: str | None) -> None:
    [result] = [
        r
        for r in iter_results([jsonl([record("x", timestamp=timestamp)])])
        if isinstance(r, NucleiResult)
    ]
    wire = sightings.wire_of(result, evidence=False)
    assert type(wire) is tuple  # no named tuple or datetime to pickle
    assert sightings.from_wire(wire).timestamp == result.timestamp
    assert (result.timestamp is None) == (timestamp is None)


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///{relative}",
        "sqlite:///{absolute}",
        "sqlite+pysqlite:///{absolute}?timeout=5",
    ],
)
def test_the_parsers_reader_follows_sqlalchemy_urls(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with sqlite3.connect(tmp_path / "x.db") as db:
        db.execute("CREATE TABLE findings (id INTEGER PRIMARY KEY, fingerprint TEXT)")
        db.execute("INSERT INTO findings VALUES (7, 'abc')")
    known = CommittedFingerprints(url.format(relative="x.db", absolute=str(tmp_path / "x.db")))
    assert known(["abc", "def"]) == {"abc": 7}


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_a_database_in_memory_tells_the_parser_nothing(url: str) -> None:
    assert CommittedFingerprints(url)(["abc"]) == {}
