"""Parsing Nuclei bodies: the real corpus files and every container variant."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from integrations.nuclei import (
    UNKNOWN_ASSET,
    Ignored,
    Invalid,
    NucleiResult,
    iter_results,
)
from tests.integrations.helpers_nuclei import CORPUS, DATA, parse, split

# --------------------------------------------------------------------------- real corpus
# file: (container, results, ignored, invalid, distinct fingerprints, distinct grouping keys)
CORPUS_EXPECTED: dict[str, tuple[str, int, int, int, int, int]] = {
    # 0-byte file: a clean empty -o output.
    "defectdojo-empty.jsonl": ("empty", 0, 0, 0, 0, 0),
    # 0-byte file.
    "defectdojo-no_findings.json": ("empty", 0, 0, 0, 0, 0),
    # One old-style line (templateID/matched, no matcher-status = a finding), cwe
    # "nvd-cve-other"; matched-at nuclei-example.com:3306.
    "defectdojo-invalid_cwe.json": ("object", 1, 0, 0, 1, 1),
    # 27 JSONL lines, none with `host`. 26 have matched-at or the garbage url
    # "/http://dvwa_dvwa_1/" (recovered as http://dvwa_dvwa_1): 16 templates on that one
    # asset, http-missing-security-headers with 11 matchers. Line 27 (nameserver-fingerprint,
    # dns) has no matched-at/host/url/ip at all: a finding on the placeholder asset
    # "(unknown)" -> 27 fingerprints, 17 groups.
    "defectdojo-issue_14071.json": ("jsonl", 27, 0, 0, 27, 17),
    # One line: favicon-detect on https://example.com/favicon.ico%c0.
    "defectdojo-issue_9201.json": ("object", 1, 0, 0, 1, 1),
    # 18 old-style lines over 5 assets: tech-detect x3 matchers on :8080/WebGoat, x2 on
    # :9090/WebWolf, x6 on nuclei-example.com; waf-detect x2 matchers; every (template,
    # asset, matcher) differs -> 18 fingerprints; 9 (template, asset) pairs.
    "defectdojo-many_findings.json": ("jsonl", 18, 0, 0, 18, 9),
    # 2 lines: CVE-2018-15473 on nuclei-example.com:22 and prometheus-metrics on https.
    "defectdojo-many_findings_new.json": ("jsonl", 2, 0, 0, 2, 2),
    # 2 lines, two templates on https://example.com.
    "defectdojo-many_findings_third.json": ("jsonl", 2, 0, 0, 2, 2),
    # Pretty-printed one-element array.
    "defectdojo-multi_cwe_fabricated.json": ("array", 1, 0, 0, 1, 1),
    # 2 lines, no final newline: tech-detect with matchers genexus and recaptcha on the
    # same asset -> 2 fingerprints, 1 group.
    "defectdojo-multiple_matches.json": ("jsonl", 2, 0, 0, 2, 1),
    # Pretty array of 6: two tls-version events on www.asdf.de:443 differ only in
    # extracted-results (tls12/tls13), which is not identity -> 5 fingerprints, 5 groups.
    "defectdojo-multiple_v3.json": ("array", 6, 0, 0, 5, 5),
    # One javascript event, host/url/matched-at all "example.com:22".
    "ostorlab-result_nuclei_long.json": ("object", 1, 0, 0, 1, 1),
    # Two critical ftp-default-credentials events that differ only in meta -> 1 finding.
    "securecodebox-ftp-test.jsonl": ("jsonl", 2, 0, 0, 1, 1),
    # One dns event on example.com.
    "securecodebox-hostname-without-port.jsonl": ("object", 1, 0, 0, 1, 1),
    # One transitional-shape Log4Shell event (templateID, matched).
    "securecodebox-log4j-test.jsonl": ("object", 1, 0, 0, 1, 1),
    # One Log4Shell event without classification.
    "securecodebox-log4shell.jsonl": ("object", 1, 0, 0, 1, 1),
    # One-element compact array, host "localdomain." vs matched-at "localdomain".
    "sner4-parser-nuclei-dns.json": ("array", 1, 0, 0, 1, 1),
    # Compact -je array (no newline at all) of 3 templates on http://127.123.123.123.
    "sner4-parser-nuclei.json": ("array", 3, 0, 0, 3, 3),
}


def corpus_file(name: str) -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not present at {CORPUS}")
    return CORPUS / name


def test_corpus_is_fully_covered() -> None:
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not present at {CORPUS}")
    present = {p.name for p in CORPUS.iterdir() if p.suffix in (".json", ".jsonl")}
    assert present == set(CORPUS_EXPECTED)


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_corpus_counts(name: str) -> None:
    data = corpus_file(name).read_bytes()
    items, stream = parse(data)
    results, ignored, invalid = split(items)
    container, n_results, n_ignored, n_invalid, n_fps, n_groups = CORPUS_EXPECTED[name]
    assert stream.container == container
    assert (len(results), len(ignored), len(invalid)) == (n_results, n_ignored, n_invalid)
    assert len({r.fingerprint for r in results}) == n_fps
    assert len({r.grouping_key for r in results}) == n_groups
    assert [i.index for i in items] == list(range(len(items)))
    assert (stream.results, stream.ignored, stream.invalid) == (n_results, n_ignored, n_invalid)


@pytest.mark.parametrize("name", sorted(CORPUS_EXPECTED))
def test_corpus_chunking_does_not_matter(name: str) -> None:
    data = corpus_file(name).read_bytes()
    whole, _ = parse(data)
    assert parse(data, chunk=1)[0] == whole
    assert parse(data, chunk=4096)[0] == whole


def test_issue_14071_with_default_target() -> None:
    data = corpus_file("defectdojo-issue_14071.json").read_bytes()
    items, _ = parse(data, default_target="http://dvwa_dvwa_1/")
    results, _, invalid = split(items)
    assert not invalid
    assert len(results) == 27
    assert {r.asset for r in results} == {"http://dvwa_dvwa_1"}
    without = split(parse(data)[0])[0]
    assert [(r.index, r.template_id) for r in without if r.asset == UNKNOWN_ASSET] == [
        (26, "nameserver-fingerprint")
    ]


def test_corpus_field_details() -> None:
    items, _ = parse(corpus_file("securecodebox-log4shell.jsonl").read_bytes())
    (r,) = split(items)[0]
    assert r.cve_ids == ("CVE-2021-44228",)  # from template-id and no classification
    assert r.severity == "critical"
    assert r.timestamp == datetime(2021, 12, 21, 15, 36, 21, 962747, tzinfo=UTC)
    assert r.curl_command is not None

    items, _ = parse(corpus_file("defectdojo-invalid_cwe.json").read_bytes())
    (r,) = split(items)[0]
    assert r.cwe_ids == ("NVD-CVE-OTHER",)
    assert r.protocol == "tcp"  # "network" in v2
    assert r.tags == ("network", "mysql", "bruteforce", "db")  # comma string

    items, _ = parse(corpus_file("defectdojo-many_findings.json").read_bytes())
    r = split(items)[0][0]
    assert r.references == (
        "http://seclists.org/fulldisclosure/2016/Jul/51",
        "https://security-tracker.debian.org/tracker/CVE-2016-6210",
        "http://openwall.com/lists/oss-security/2016/08/01/2",
    )  # YAML block string

    items, _ = parse(corpus_file("ostorlab-result_nuclei_long.json").read_bytes())
    (r,) = split(items)[0]
    assert (r.cve_ids, r.cwe_ids, r.asset) == (("CVE-2023-48795",), ("CWE-354",), "example.com:22")
    assert r.cvss_score == 5.9
    assert r.epss_score is not None and 0 < r.epss_score < 1

    items, _ = parse(corpus_file("sner4-parser-nuclei.json").read_bytes())
    login = next(r for r in split(items)[0] if r.template_id == "dvwa-default-login")
    assert login.meta == {"password": "password", "username": "admin"}  # not redacted here
    assert login.cve_ids == ("CVE-2023-9999",)

    items, _ = parse(corpus_file("securecodebox-ftp-test.jsonl").read_bytes())
    a, b = split(items)[0]
    assert a.fingerprint == b.fingerprint and a.meta != b.meta


# --------------------------------------------------------------------------- containers
FIXTURE_CONTAINERS = {
    "basic.jsonl": "jsonl",
    "trailing_commas.jsonl": "jsonl",  # nuclei v3.3.6 -jle
    "no_final_newline.jsonl": "jsonl",
    "crlf.jsonl": "jsonl",
    "bom.jsonl": "jsonl",
    "blank_lines.jsonl": "jsonl",
    "compact_array.json": "array",
    "pretty_array.json": "array",
    "hec.json": "hec",
}


@pytest.mark.parametrize("name", sorted(FIXTURE_CONTAINERS))
def test_container_variants_give_the_same_items(name: str) -> None:
    reference, _ = parse((DATA / "basic.jsonl").read_bytes())
    items, stream = parse((DATA / name).read_bytes())
    assert stream.container == FIXTURE_CONTAINERS[name]
    if name == "hec.json":  # A, B, C, and B again
        assert items[:3] == [*reference[:2], Ignored(2, "matcher-status false")]
        last, second = items[3], items[1]
        assert isinstance(last, NucleiResult) and isinstance(second, NucleiResult)
        assert last.fingerprint == second.fingerprint
        return
    results, ignored, invalid = split(items)
    assert not invalid
    assert ignored == [Ignored(2, "matcher-status false")]
    assert [r.fingerprint for r in results] == [r.fingerprint for r in split(reference)[0]]
    assert results == split(reference)[0]  # everything equal, index included


@pytest.mark.parametrize("name", sorted(p.name for p in DATA.iterdir()))
def test_fixtures_one_byte_chunks(name: str) -> None:
    data = (DATA / name).read_bytes()
    whole, stream = parse(data)
    one, stream_one = parse(data, chunk=1)
    assert one == whole
    assert stream_one.container == stream.container
    assert stream_one.scan_metadata == stream.scan_metadata
    rng = random.Random(name)
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, max(len(data), 2)), k=min(5, max(len(data) - 1, 0))))
        pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        assert list(iter_results(pieces)) == whole


@pytest.mark.parametrize(
    ("name", "container", "count"),
    [("empty.json", "empty", 0), ("whitespace.json", "empty", 0), ("empty_array.json", "array", 0)],
)
def test_empty_bodies(name: str, container: str, count: int) -> None:
    items, stream = parse((DATA / name).read_bytes())
    assert len(items) == count
    assert stream.container == container
    assert list(iter_results([])) == []
    assert list(iter_results([b"", b"\xef\xbb\xbf", b" \r\n"])) == []


def test_single_objects() -> None:
    single, s1 = parse((DATA / "single_object.json").read_bytes())
    pretty, s2 = parse((DATA / "pretty_object.json").read_bytes())
    assert s1.container == s2.container == "object"
    assert single == pretty
    (r,) = single
    assert isinstance(r, NucleiResult)
    assert r.asset == "https://example.com"
    assert r.cve_ids == ("CVE-2021-44228",)


def test_envelope() -> None:
    items, stream = parse((DATA / "envelope.json").read_bytes())
    assert stream.container == "envelope"
    assert stream.scan_metadata == {
        "target": "https://example.com",
        "scanner": "nuclei",
        "version": "3.3.7",
    }
    assert stream.metadata is not None and stream.metadata.target == "https://example.com"
    results, ignored, invalid = split(items)
    assert not invalid and len(ignored) == 1
    # The dns record without a location takes the envelope's target.
    assert [r.asset for r in results] == [
        "https://example.com",
        "example.com:443",
        "https://example.com",
    ]
    # An explicit default target wins over the envelope's.
    items, stream = parse((DATA / "envelope.json").read_bytes(), default_target="dns.example")
    assert split(items)[0][-1].asset == "dns.example"
    assert stream.default_target == "dns.example"


def test_envelope_with_findings_before_metadata() -> None:
    record = {"template-id": "t", "info": {}, "type": "dns"}
    located = {"template-id": "u", "info": {}, "matched-at": "a.example"}
    body = orjson.dumps({"findings": [record, located], "scan_metadata": {"target": "b.example"}})
    items, stream = parse(body)
    assert stream.container == "envelope"
    assert [(i.index, i.asset) for i in items if isinstance(i, NucleiResult)] == [
        (1, "a.example"),
        (0, "b.example"),
    ]
    # An envelope whose findings are null or missing is a valid, empty body.
    for body in (b'{"scan_metadata": {"target": "x"}, "findings": null}', b'{"findings": []}'):
        items, stream = parse(body)
        assert items == [] and stream.container == "envelope"


def test_hec_metadata_keys_are_ignored() -> None:
    items, _ = parse((DATA / "hec.json").read_bytes())
    first = items[0]
    assert isinstance(first, NucleiResult)
    assert first.host == "Example.COM"  # the result's host, not HEC's "host"


def test_mixed_invalid_lines() -> None:
    items, stream = parse((DATA / "mixed_invalid.jsonl").read_bytes())
    assert stream.container == "jsonl"
    assert isinstance(items[0], NucleiResult)
    messages = [(i.index, i.line, i.message) for i in items if isinstance(i, Invalid)]
    assert messages[0][:2] == (1, 2)
    assert messages[0][2].startswith("line 2: invalid JSON: ")
    assert messages[1:] == [
        (2, 3, 'record 2 (line 3): missing "template-id"'),
        (3, 4, 'record 3 (line 4): "info" is not an object'),
        (4, 5, "record 4 (line 5): not a JSON object (got int)"),
    ]
    last = items[7]
    assert isinstance(last, NucleiResult) and last.asset == UNKNOWN_ASSET
    assert [i for i in items if isinstance(i, Ignored)] == [
        Ignored(5, "matcher-status false"),
        Ignored(6, "error: context deadline exceeded"),
    ]


def test_invalid_json_in_arrays_and_garbage() -> None:
    body = b'[\n{"template-id": "a", "info": {}, "host": "h"},\n{"template-id": tru},\n7, "s"\n]'
    items, _ = parse(body)
    assert isinstance(items[0], NucleiResult)
    assert isinstance(items[1], Invalid) and items[1].line == 3
    assert items[1].message.startswith("line 3: invalid JSON")
    assert [type(i) for i in items[2:]] == [Invalid, Invalid]
    assert [i.index for i in items] == [0, 1, 2, 3]

    truncated, _ = parse(b'[{"template-id": "a", "info": {}, "host": "h"}, {"template-id": "b"')
    assert isinstance(truncated[0], NucleiResult)
    assert isinstance(truncated[1], Invalid)
    assert "unexpected end of input" in truncated[1].message

    text, stream = parse(b"[INF] nuclei 3.3.7\n[tls-version] [ssl] [info] example.com:443\n")
    assert stream.container == "jsonl"
    assert [(type(i), getattr(i, "line", None)) for i in text] == [(Invalid, 1), (Invalid, 2)]


def test_robust_payloads() -> None:
    huge = "A" * 3_000_000
    record = {
        "template-id": "t",
        "info": {"name": "x"},
        "host": "h.example",
        "response": huge + "\x00tail",
        "request": "GET / HTTP/1.1\r\n\r\n\x00",
    }
    items, _ = parse(orjson.dumps(record) + b"\n", chunk=65536)
    (r,) = items
    assert isinstance(r, NucleiResult)
    assert r.response == huge + "tail"
    assert r.request == "GET / HTTP/1.1\r\n\r\n"
    # Raw invalid UTF-8 and a raw NUL byte inside a string: repaired, not rejected.
    raw = b'{"template-id":"t","info":{},"host":"h","response":"a\xff\xfeb\x00c"}\n'
    for body in (raw, b"[" + raw.strip() + b"]"):
        (r,) = parse(body)[0]
        assert isinstance(r, NucleiResult)
        assert r.response == "a\ufffd\ufffdbc"
    # A lone surrogate escape is replaced too.
    (r,) = parse(b'{"template-id":"t","info":{},"host":"h","response":"x\\ud800y"}')[0]
    assert isinstance(r, NucleiResult) and r.response == "x\ufffdy"
