"""Finding identity: asset normalization, fingerprint and grouping key."""

from __future__ import annotations

import hashlib
import random

import pytest

from integrations.nuclei import (
    NucleiResult,
    fingerprint,
    grouping_key,
    normalize_asset,
    normalize_record,
    select_asset,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://Example.com:443/a?b", "https://example.com"),
        ("https://example.com.", "https://example.com"),
        ("https://example.com/x", "https://example.com"),
        ("HTTPS://EXAMPLE.COM#frag", "https://example.com"),
        ("http://example.com:80/", "http://example.com"),
        ("http://example.com:8080/app", "http://example.com:8080"),
        ("https://example.com:80", "https://example.com:80"),
        ("http://user:pw@example.com:8080/x", "http://example.com:8080"),
        ("example.com:22", "example.com:22"),
        ("Example.COM.:0022", "example.com:22"),
        ("example.com", "example.com"),
        ("localdomain.", "localdomain"),
        ("example.com/path?q=1", "example.com"),
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080"),
        ("https://[2001:db8::1]:443/", "https://[2001:db8::1]"),
        ("[2001:db8::1]:22", "[2001:db8::1]:22"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("/http://dvwa_dvwa_1/", "http://dvwa_dvwa_1"),
        ("//cdn.example.com/lib.js", "cdn.example.com"),
        ("https://example.com/favicon.ico%c0", "https://example.com"),
        ("  https://example.com  ", "https://example.com"),
        ("", ""),
        ("   ", ""),
    ],
)
def test_normalize_asset_table(value: str, expected: str) -> None:
    assert normalize_asset(value) == expected


@pytest.mark.parametrize(
    ("value", "scheme", "port", "expected"),
    [
        ("example.com", "https", "443", "https://example.com"),  # v3.7 host
        ("example.com:443", "https", "443", "https://example.com"),  # v3.1 host
        ("example.com", "https", None, "https://example.com"),  # port filled from scheme
        ("example.com", None, "22", "example.com:22"),
        ("example.com", "http", 8080, "http://example.com:8080"),
        ("2001:db8::1", "https", "8443", "https://[2001:db8::1]:8443"),  # v3.7 IPv6 host
        ("/http://dvwa_dvwa_1/", None, "80", "http://dvwa_dvwa_1"),
        ("https://example.com:8443/app", "https", "8443", "https://example.com:8443"),  # v2
    ],
)
def test_normalize_asset_with_fields(
    value: str, scheme: str | None, port: str | int | None, expected: str
) -> None:
    assert normalize_asset(value, scheme=scheme, port=port) == expected


@pytest.mark.parametrize(
    "value",
    ["/http://", "http://", ":80", "@", "[", "http://[::1", "::::", "a b c", "é.example"],
)
def test_garbage_is_stable_and_non_empty(value: str) -> None:
    first = normalize_asset(value)
    assert first
    assert normalize_asset(value) == first


def test_nul_characters_are_dropped() -> None:
    """PostgreSQL cannot store them; a value of nothing but NULs names no location."""
    assert normalize_asset("https://ex\x00ample.com/x") == "https://example.com"
    assert normalize_asset("\x00") == ""


def test_host_styles_across_versions_agree() -> None:
    v2 = select_asset(host="https://example.com:8443/app")
    v31 = select_asset(host="example.com:8443", scheme="https", port="8443")
    v37 = select_asset(host="example.com", scheme="https", port="8443")
    url = select_asset(url="https://example.com:8443/app", scheme="https", port="8443")
    assert v2 == v31 == v37 == url == "https://example.com:8443"
    # matched-at wins over everything else.
    assert select_asset(matched_at="https://example.com/x", host="other.example") == (
        "https://example.com"
    )
    assert select_asset(default_target="https://t.example/") == "https://t.example"
    assert select_asset(ip="192.0.2.1", port="22") == "192.0.2.1:22"
    assert select_asset() == ""


def test_fingerprint_definition() -> None:
    expected = hashlib.sha256(b"tpl\x1fhttps://example.com\x1fm").hexdigest()
    assert fingerprint(" tpl ", "https://example.com", "m") == expected
    assert fingerprint("TPL", "https://example.com", "m") != expected  # case preserved
    assert (
        grouping_key("tpl", "https://example.com")
        == hashlib.sha256(b"tpl\x1fhttps://example.com").hexdigest()
    )


BASE: dict[str, object] = {
    "template-id": "git-config",
    "info": {"name": "Git Config - Detect", "severity": "medium", "tags": ["git"]},
    "matcher-name": "m1",
    "type": "http",
    "host": "https://example.com",
    "matched-at": "https://example.com/.git/config",
    "meta": {"a": "1", "b": "2", "c": "3"},
    "extracted-results": ["x"],
    "timestamp": "2024-01-01T00:00:00Z",
    "matcher-status": True,
}


def fp_of(record: dict[str, object]) -> str:
    result = normalize_record(record, 0)
    assert isinstance(result, NucleiResult)
    return result.fingerprint


def test_fingerprint_ignores_what_is_not_identity() -> None:
    base = fp_of(BASE)
    meta = dict(BASE["meta"])  # type: ignore[call-overload]
    keys = list(meta)
    random.Random(1).shuffle(keys)
    variants: list[dict[str, object]] = [
        {**BASE, "meta": {k: meta[k] for k in reversed(keys)}},
        {**BASE, "timestamp": "2025-06-01T12:34:56.123456789+02:00"},
        {**BASE, "info": {"name": "Another title", "severity": "medium"}},
        {**BASE, "extracted-results": ["y", "z"]},
        {**BASE, "template-url": "https://cloud.projectdiscovery.io/public/git-config"},
        {**BASE, "host": "example.com", "port": "443", "scheme": "https"},  # v3.7
        {**BASE, "host": "example.com:443", "port": "443", "scheme": "https"},  # v3.1
        {**BASE, "matched-at": "https://EXAMPLE.com.:443/other/path"},
    ]
    old = {k: v for k, v in BASE.items() if k not in ("template-id", "matched-at", "matcher-name")}
    old |= {"templateID": "git-config", "matched": BASE["matched-at"], "matcher_name": "m1"}
    del old["matcher-status"]
    variants.append(old)
    for variant in variants:
        assert fp_of(variant) == base, variant


def test_fingerprint_depends_on_identity() -> None:
    base = fp_of(BASE)
    assert fp_of({**BASE, "matcher-name": "m2"}) != base
    assert fp_of({**BASE, "template-id": "git-config-2"}) != base
    assert fp_of({**BASE, "matched-at": "https://example.com:8443/"}) != base
    assert fp_of({**BASE, "matched-at": "http://example.com/"}) != base
    a = normalize_record({**BASE, "matcher-name": "m2"}, 0)
    b = normalize_record(BASE, 1)
    assert isinstance(a, NucleiResult) and isinstance(b, NucleiResult)
    assert a.grouping_key == b.grouping_key  # one ticket per template per asset
