"""Cutting a body that is read line by line into parts that parse on their own (a large
CLI ingest parses them in parallel): where the first line ends, and how a part's records
and lines are numbered after the part before it.
"""

from __future__ import annotations

from collections.abc import Iterable

from integrations.nuclei.containers import _LBRACE, _NON_WS
from integrations.nuclei.decode import BOM, as_bytes, kind_of, line_content, loads_or_none


def first_line_end(prefix: bytes) -> int | None:
    """Where the first line of a body ends (just past its newline), when everything after
    it is read line by line: the first value is a one-line record or HEC event. Then any
    line boundary further on splits the body into parts that parse independently. None
    when the prefix (the body's first bytes) does not show that.

    Decided as the container splitter does, but only for the plain case: a first line that
    needs repair, or holds more than one value, gives None (the body is parsed whole)."""
    start = len(BOM) if prefix.startswith(BOM) else 0
    match = _NON_WS.search(prefix, start)
    if match is None or prefix[match.start()] != _LBRACE:
        return None
    end = prefix.find(b"\n", match.start())
    if end == -1:
        return None
    value = loads_or_none(prefix[match.start() : end].rstrip(b" \t\r,"))
    if not isinstance(value, dict) or kind_of(value) not in ("object", "hec"):
        return None
    return end + 1


def count_lines_and_records(chunks: Iterable[bytes]) -> tuple[int, int]:
    """(newlines, records) of a body read line by line, as the container splitter numbers
    them: a record is a line that is not blank. For a part parsed on its own, this numbers
    its records and lines after the part before it."""
    lines = records = 0
    carry = b""
    started = False
    for chunk in chunks:
        data = carry + as_bytes(chunk)
        if not started:  # a BOM is not part of the first line's content
            if len(data) < len(BOM) and BOM.startswith(data):
                carry = data
                continue
            started = True
            if data.startswith(BOM):
                data = data[len(BOM) :]
        *complete, carry = data.split(b"\n")
        lines += len(complete)
        records += sum(1 for line in complete if line_content(line))
    if line_content(carry):
        records += 1
    return lines, records
