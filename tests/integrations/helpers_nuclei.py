"""Helpers of the Nuclei parser tests."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from integrations.nuclei import Ignored, Invalid, NucleiResult, NucleiStream, ParsedItem

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "nuclei"
DATA = Path(__file__).resolve().parents[1] / "data" / "nuclei"


def parse(
    data: bytes, chunk: int = 1 << 20, **kwargs: str
) -> tuple[list[ParsedItem], NucleiStream]:
    stream = NucleiStream([data[i : i + chunk] for i in range(0, len(data), chunk)], **kwargs)
    return list(stream), stream


def split(items: Iterable[ParsedItem]) -> tuple[list[NucleiResult], list[Ignored], list[Invalid]]:
    items = list(items)
    results = [i for i in items if isinstance(i, NucleiResult)]
    ignored = [i for i in items if isinstance(i, Ignored)]
    invalid = [i for i in items if isinstance(i, Invalid)]
    assert len(results) + len(ignored) + len(invalid) == len(items)
    return results, ignored, invalid
