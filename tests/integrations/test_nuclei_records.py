"""Parsing Nuclei records: fields, key styles, timestamps, ignored events; arbitrary input
never raises; identifying then completing gives the whole parse."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integrations.nuclei import (
    Identified,
    Ignored,
    Invalid,
    NucleiResult,
    NucleiStream,
    ParsedItem,
    normalize_record,
    parse_timestamp,
)
from tests.integrations.helpers_nuclei import CORPUS, DATA, parse, split


# --------------------------------------------------------------------------- records
def test_old_and_new_key_styles_are_one_finding() -> None:
    new = split(parse((DATA / "basic.jsonl").read_bytes())[0])[0][0]
    old = split(parse((DATA / "old_keys.jsonl").read_bytes())[0])[0][0]
    assert old.fingerprint == new.fingerprint
    assert old.grouping_key == new.grouping_key
    assert old.name != new.name and old.timestamp != new.timestamp
    assert old.extracted_results != new.extracted_results
    assert old.tags == ("cve", "cve2021", "rce")
    assert old.authors == ("melbadry9",)
    assert old.references[0] == "https://nvd.nist.gov/vuln/detail/CVE-2021-44228"


def test_record_fields() -> None:
    items, _ = parse((DATA / "basic.jsonl").read_bytes())
    a, b = split(items)[0]
    assert a.template_id == "CVE-2021-44228"
    assert a.name == "Apache Log4j2 Remote Code Injection"
    assert (a.severity, a.protocol, a.matcher_name, a.extractor_name) == (
        "critical",
        "http",
        "",
        "",
    )
    assert (a.host, a.port, a.scheme, a.ip) == ("Example.COM", "443", "https", "192.0.2.10")
    assert a.matched_at == "https://Example.COM:443/login?user=x"
    assert a.timestamp == datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert a.meta == {"username": "admin", "password": "hunter2"}
    assert a.extracted_results == ("a.b.oast.fun",)
    assert a.cve_ids == ("CVE-2021-44228",) and a.cwe_ids == ()
    assert (b.extractor_name, b.protocol, b.cwe_ids) == ("tls_version", "ssl", ("CWE-200",))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "2023-07-19T20:07:11.183980719+02:00",
            datetime(2023, 7, 19, 18, 7, 11, 183980, tzinfo=UTC),
        ),
        ("2021-12-21T15:36:21.9627479Z", datetime(2021, 12, 21, 15, 36, 21, 962747, tzinfo=UTC)),
        ("2024-11-17T11:15:12.821259Z", datetime(2024, 11, 17, 11, 15, 12, 821259, tzinfo=UTC)),
        (
            "2022-03-20T22:43:31.231312071-03:00",
            datetime(2022, 3, 21, 1, 43, 31, 231312, tzinfo=UTC),
        ),
        ("2023-07-19T20:07:11+05:30", datetime(2023, 7, 19, 14, 37, 11, tzinfo=UTC)),
        ("2023-07-19T20:07:11", datetime(2023, 7, 19, 20, 7, 11, tzinfo=UTC)),
        ("not a time", None),
        ("", None),
        (1700000000, None),
        (None, None),
    ],
)
def test_parse_timestamp(value: object, expected: datetime | None) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() == timedelta(0)


def test_ids_and_numbers() -> None:
    record = {
        "template-id": " CVE-2022-1388 ",
        "info": {
            "severity": "HIGH",
            "tags": ["cve", "cve-2021-44228", "CVE-2021-44228", "kev"],
            "classification": {
                "cve-id": ["cve-2021-45046", "cve-2021-44228"],
                "cwe-id": ["cwe-89", "cwe-79", "nvd-cwe-other", "79"],
                "cvss-score": 10,
                "epss-score": "0.97",
            },
        },
        "host": "example.com",
        "port": 8443,
    }
    r = normalize_record(record, 0)
    assert isinstance(r, NucleiResult)
    assert r.template_id == "CVE-2022-1388"
    assert r.cve_ids == ("CVE-2021-44228", "CVE-2021-45046", "CVE-2022-1388")
    assert r.cwe_ids == ("CWE-79", "CWE-89", "NVD-CWE-OTHER")
    assert r.cvss_score == 10.0 and isinstance(r.cvss_score, float)
    assert r.epss_score == 0.97
    assert r.severity == "high"
    assert r.port == "8443" and r.asset == "example.com:8443"
    weird = normalize_record({**record, "info": {"severity": "urgent", "tags": None}}, 1)
    assert isinstance(weird, NucleiResult) and weird.severity == "unknown"
    assert weird.cve_ids == ("CVE-2022-1388",)  # template id alone
    nulls = normalize_record(
        {"template-id": "x", "info": None, "matched-at": None, "host": "h", "meta": None}, 2
    )
    assert isinstance(nulls, NucleiResult)
    assert (nulls.name, nulls.severity, nulls.meta, nulls.tags) == ("x", "unknown", {}, ())


def test_ignored_events() -> None:
    base = {"template-id": "t", "info": {}, "host": "h"}
    assert normalize_record({**base, "matcher-status": False}, 0) == Ignored(
        0, "matcher-status false"
    )
    assert normalize_record({**base, "error": "port closed"}, 1) == Ignored(1, "error: port closed")
    assert isinstance(normalize_record({**base, "matcher-status": True}, 2), NucleiResult)
    assert isinstance(normalize_record(base, 3), NucleiResult)  # pre-v2.5.4: no matcher-status


def test_stream_is_single_use() -> None:
    stream = NucleiStream([b"[]"])
    list(stream)
    with pytest.raises(RuntimeError):
        list(stream)


# --------------------------------------------------------------------------- properties
ITEM_TYPES = (NucleiResult, Ignored, Invalid)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "template-id",
                    "templateID",
                    "info",
                    "host",
                    "matched-at",
                    "matched",
                    "url",
                    "port",
                    "scheme",
                    "meta",
                    "severity",
                    "tags",
                    "classification",
                    "cve-id",
                    "cwe-id",
                    "matcher-status",
                    "error",
                    "timestamp",
                    "event",
                    "findings",
                    "scan_metadata",
                    "extracted-results",
                    "reference",
                    "author",
                    "cvss-score",
                    "type",
                    "x",
                ]
            )
            | st.text(max_size=5),
            children,
            max_size=6,
        )
    ),
    max_leaves=20,
)


def _check(items: list[ParsedItem]) -> None:
    assert all(isinstance(i, ITEM_TYPES) for i in items)
    assert [i.index for i in items] == list(range(len(items)))
    for i in items:
        if isinstance(i, NucleiResult):
            assert i.asset and len(i.fingerprint) == 64


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=40))
def test_arbitrary_bytes_never_raise(data: bytes, chunk: int) -> None:
    items, _ = parse(data, chunk=chunk)
    _check(items)
    assert parse(data)[0] == items


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(["jsonl", "array", "pretty", "hec", "envelope"]))
def test_arbitrary_json_never_raises(value: object, shape: str) -> None:
    if shape == "jsonl":
        body = orjson.dumps(value) + b"\n" + orjson.dumps(value)
    elif shape == "array":
        body = orjson.dumps([value, value])
    elif shape == "pretty":
        body = json.dumps(value, indent=2).encode()
    elif shape == "hec":
        body = orjson.dumps({"event": value}) * 2
    else:
        body = orjson.dumps({"scan_metadata": {"target": "t.example"}, "findings": [value]})
    items, _ = parse(body)
    _check(items)
    identified = NucleiStream([body]).identified()
    assert [i.complete() if isinstance(i, Identified) else i for i in identified] == items
    assert parse(body, chunk=3)[0] == items
    assert isinstance(normalize_record(value, 0, default_target="x"), ITEM_TYPES)


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir()))
def test_identified_then_completed_is_the_same_parse(name: str) -> None:
    """Identifying findings first and completing them afterwards (as a re-ingest does, for
    the findings it does not know) gives exactly the items of a whole parse."""
    data = (DATA / name).read_bytes()
    whole, stream = parse(data)
    lazy = NucleiStream([data])
    items = [i.complete() if isinstance(i, Identified) else i for i in lazy.identified()]
    assert items == whole
    assert (lazy.results, lazy.ignored, lazy.invalid, lazy.container) == (
        stream.results,
        stream.ignored,
        stream.invalid,
        stream.container,
    )
    for item in NucleiStream([data]).identified():
        if isinstance(item, Identified):  # what a sighting reads, without completing
            done = item.complete()
            assert (item.fingerprint, item.severity, item.name, item.cve_ids) == (
                done.fingerprint,
                done.severity,
                done.name,
                done.cve_ids,
            )


def test_corpus_identified_then_completed() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not present at {CORPUS}")
    for path in sorted(CORPUS.iterdir()):
        data = path.read_bytes()
        lazy = [
            i.complete() if isinstance(i, Identified) else i
            for i in NucleiStream([data]).identified()
        ]
        assert lazy == parse(data)[0], path.name
