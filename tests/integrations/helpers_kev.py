"""Helpers of the KEV catalog tests: the shared corpus and the project's own fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from integrations.kev import KevCatalog, KevCatalogError, parse_catalog

REPO_ROOT = Path(__file__).resolve().parents[2]
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "kev"
DATA = Path(__file__).resolve().parents[1] / "data" / "kev"

JSON_0508 = "known_exploited_vulnerabilities_2026.05.08.json"
JSON_0807 = "known_exploited_vulnerabilities_2026.08.07.json"
CSV_0825 = "known_exploited_vulnerabilities_2025.08.25.csv"
DIFF = "catalog_diff_2026.05.08_to_2026.08.07.json"


def corpus_file(name: str) -> Path:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"KEV corpus file absent: {path}")
    return path


def small_doc() -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((DATA / "small_catalog.json").read_bytes())
    return doc


def parse_doc(doc: dict[str, Any]) -> KevCatalog:
    return parse_catalog(orjson.dumps(doc), source="test.json")


def error_of(body: bytes, source: str = "test.json") -> str:
    with pytest.raises(KevCatalogError) as info:
        parse_catalog(body, source=source)
    return str(info.value)
