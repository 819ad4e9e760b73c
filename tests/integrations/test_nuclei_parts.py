"""A body read line by line, parsed in two parts (as a large CLI ingest does on two cores),
gives exactly what parsing it whole gives: the same items, indexes, line numbers, error
messages and container."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.nuclei import (
    NucleiStream,
    ParsedItem,
    count_lines_and_records,
    first_line_end,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "nuclei"
CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "nuclei"


def whole(data: bytes) -> tuple[list[ParsedItem], str]:
    stream = NucleiStream([data])
    return list(stream), stream.container


def in_parts(data: bytes, cut: int) -> tuple[list[ParsedItem], str]:
    """Parse ``data[:cut]`` and ``data[cut:]`` on their own and put the results together,
    as :mod:`bot.ingest.parallel` does."""
    head = NucleiStream([data[:cut]])
    head_items = list(head)
    lines, records = count_lines_and_records([data[:cut]])
    tail = NucleiStream.continuing(
        [data[cut:]], default_target=None, first_line=lines + 1, first_index=records
    )
    tail_items = list(tail)
    container = head.container
    if container == "object" and tail.container == "jsonl":
        container = "jsonl"
    return head_items + tail_items, container


def line_boundaries(data: bytes) -> list[int]:
    """Every place a body read line by line can be cut: just past a newline, after the
    first line."""
    first = first_line_end(data)
    assert first is not None
    return [i + 1 for i, byte in enumerate(data) if byte == 0x0A and i + 1 >= first]


def assert_parts_agree(data: bytes) -> None:
    expected = whole(data)
    for cut in line_boundaries(data):
        assert in_parts(data, cut) == expected, f"cut at byte {cut}"


RECORD = orjson.dumps(
    {
        "template-id": "tls-version",
        "info": {"name": "TLS", "severity": "info"},
        "matched-at": "a.example:443",
        "matcher-status": True,
    }
)


def rec(n: int) -> bytes:
    return RECORD.replace(b"a.example", f"h{n}.example".encode())


@pytest.mark.parametrize(
    "name",
    [
        "basic.jsonl",
        "blank_lines.jsonl",
        "bom.jsonl",
        "crlf.jsonl",
        "mixed_invalid.jsonl",
        "no_final_newline.jsonl",
        "old_keys.jsonl",
        "trailing_commas.jsonl",
    ],
)
def test_fixtures_in_parts(name: str) -> None:
    assert_parts_agree((DATA / name).read_bytes())


def test_corpus_jsonl_files_in_parts() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not present at {CORPUS}")
    checked = 0
    for path in sorted(CORPUS.iterdir()):
        data = path.read_bytes()
        if first_line_end(data) is not None:
            assert_parts_agree(data)
            checked += 1
    # the JSONL files of the corpus, and the one-line ones (a cut past their only line)
    assert checked >= 6


def test_problems_in_the_second_part_are_numbered_in_the_whole_body() -> None:
    data = b"\n".join(
        [rec(1), b"", rec(2), b"  ,,", b'{"template-id": 7}', b"", b"not json", rec(3)]
    )
    items, _ = in_parts(data, data.index(b"  ,,"))
    messages = [getattr(i, "message", None) for i in items if hasattr(i, "message")]
    assert messages == [
        "line 4: invalid JSON: unexpected character, expected a JSON value (column 1)",
        'record 3 (line 5): "template-id" is not a non-empty string',
        "line 7: invalid JSON: invalid literal, expected 'null' (column 1)",
    ]
    assert (items, "jsonl") == whole(data)


def test_one_line_then_more_is_jsonl() -> None:
    data = rec(1) + b"\n" + rec(2) + b"\n"
    assert whole(data)[1] == "jsonl"
    assert in_parts(data, len(rec(1)) + 1)[1] == "jsonl"
    assert in_parts(data + b"\n\n", len(data))[1] == "jsonl"
    # blank lines only after the one line: still one object, as parsed whole
    lone = rec(1) + b"\n\n  \n"
    assert in_parts(lone, len(rec(1)) + 1) == whole(lone)
    assert whole(lone)[1] == "object"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"[" + rec(1) + b"]\n",
        b'{"scan_metadata": {"target": "x"}, "findings": []}\n' + rec(1) + b"\n",
        b'{\n  "template-id": "x"\n}\n',
        rec(1) + b" " + rec(2) + b"\n",
        b"[INF] nuclei output\n" + rec(1) + b"\n",
        rec(1),  # no newline: one line, nothing to cut
        b'{"template-id": "x", "broken\n',
    ],
    ids=[
        "empty",
        "blank",
        "array",
        "envelope",
        "pretty",
        "two-values",
        "text",
        "one-line",
        "broken",
    ],
)
def test_bodies_that_are_parsed_whole(body: bytes) -> None:
    assert first_line_end(body) is None


def test_first_line_end_of_bodies_read_by_line() -> None:
    assert first_line_end(rec(1) + b"\n" + rec(2)) == len(rec(1)) + 1
    assert first_line_end(b"\xef\xbb\xbf \n" + rec(1) + b",\r\n") == 5 + len(rec(1)) + 3
    hec = b'{"event": ' + rec(1) + b', "time": 1}\n'
    assert first_line_end(hec) == len(hec)


def test_count_lines_and_records() -> None:
    assert count_lines_and_records([]) == (0, 0)
    assert count_lines_and_records([b"\xef", b"\xbb\xbf\n", b"{}\n  ,\n,,\n\n{}"]) == (5, 3)
    assert count_lines_and_records([b"a\r\n \t\r\n"]) == (2, 1)


LINES = st.sampled_from(
    [
        rec(1),
        rec(2),
        rec(1) + b",",
        b'{"event": ' + rec(3) + b"}",
        b"",
        b"  ",
        b",",
        b",,",
        b"\r",
        b"nope",
        b'{"template-id": ""}',
        b'{"template-id": "x", "matcher-status": false}',
        b"[1]",
        b'{"a": "\xff"}',
        b'{"template-id": "nul\x00"}',
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES, max_size=12), st.booleans())
def test_any_cut_gives_the_whole_parse(lines: list[bytes], final_newline: bool) -> None:
    data = b"\n".join([rec(0), *lines]) + (b"\n" if final_newline else b"")
    if b"\n" in data:  # (one line alone has nowhere to cut)
        assert_parts_agree(data)
