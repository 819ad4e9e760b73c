"""Finding identity: asset normalization, fingerprint and grouping key.

The contract (DESIGN.md, "Domain rules -> Finding identity"): a finding is identified by its
template id, its *normalized asset* and its matcher name. Nothing else (title, nuclei
version, key style, ``meta`` order, timestamps, extracted results) takes part.

Asset normalization (:func:`normalize_asset`) turns one location string into
``scheme://host[:port]``, ``host:port`` or ``host``:

* scheme and host are lower-cased, a trailing dot of the host is stripped;
* path, query, fragment and userinfo are dropped;
* default ports are folded (``http``/80, ``https``/443), also when the port comes from the
  record's separate ``port`` field;
* IPv6 literals are stored without brackets internally and rendered with brackets whenever a
  port or a scheme follows/precedes them (``https://[::1]``, ``[::1]:22``), bare otherwise;
* a string with no scheme keeps its ``host:port`` shape (``example.com:22``) and a bare domain
  stays a bare domain;
* garbage never raises: ``/http://dvwa_dvwa_1/`` is recovered as ``http://dvwa_dvwa_1``, and a
  string with no recognisable host normalizes to its own stripped, lower-cased text;
* NUL characters are dropped (no host has them, and PostgreSQL cannot store them).

:func:`select_asset` picks the source for a record: ``matched-at`` on its own (so every nuclei
version gives the same asset for the same ``matched-at``), else ``host`` combined with the
record's ``scheme``/``port`` fields (v2 full URL, v3.1 ``host:port`` and v3.7 bare hostname
all agree), else ``url`` likewise, else the caller's default target, else the resolved ``ip``;
``""`` when there is none (the record then uses :data:`UNKNOWN_ASSET`).
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

__all__ = [
    "DEFAULT_PORTS",
    "UNKNOWN_ASSET",
    "fingerprint",
    "grouping_key",
    "normalize_asset",
    "select_asset",
    "strip_nul",
]

DEFAULT_PORTS: dict[str, str] = {"http": "80", "https": "443"}
# The asset of a finding that names no location at all; "(" never occurs in a host name.
UNKNOWN_ASSET = "(unknown)"

_SEP = "\x1f"
# Optional leading slashes/backslashes/space tolerate garbage such as "/http://host/".
_SCHEME_RE = re.compile(r"[\s/\\]*([A-Za-z][A-Za-z0-9+.\-]*)://")
_AUTHORITY_END_RE = re.compile(r"[/?#\\\s]")
_SCHEME_NAME_RE = re.compile(r"[a-z][a-z0-9+.\-]*")


def strip_nul(text: str) -> str:
    """``text`` without NUL characters: no host or id has them, and PostgreSQL's text and JSONB
    cannot store them (the raw body keeps them)."""
    return text.replace("\x00", "") if "\x00" in text else text


def _port_text(port: str | int | None) -> str:
    if port is None or isinstance(port, bool):
        return ""
    text = str(port).strip()
    if text.isascii() and text.isdigit() and len(text) <= 10:
        return str(int(text))
    return ""


def _split_host_port(authority: str) -> tuple[str, str, bool]:
    """Split an authority into (host, port, ok). ``ok`` is False for an unusable port."""
    if authority.startswith("["):
        end = authority.find("]")
        if end == -1:
            return authority[1:], "", True
        after = authority[end + 1 :]
        if after.startswith(":") and after[1:]:
            port = _port_text(after[1:])
            return authority[1:end], port, bool(port)
        return authority[1:end], "", not after
    if authority.count(":") == 1:
        host, _, raw_port = authority.partition(":")
        if not raw_port:
            return host, "", True
        port = _port_text(raw_port)
        return host, port, bool(port)
    # No colon, or an unbracketed IPv6 literal (nuclei v3.7 writes `host` that way).
    return authority, "", True


@lru_cache(maxsize=8192)
def _normalize(text: str, scheme_hint: str, port_hint: str) -> str:
    match = _SCHEME_RE.match(text)
    if match:
        scheme = match.group(1).lower()
        rest = text[match.end() :]
    else:
        scheme = ""
        rest = text[2:] if text.startswith("//") else text
    end = _AUTHORITY_END_RE.search(rest)
    authority = rest[: end.start()] if end else rest
    authority = authority.rpartition("@")[2]
    host, port, ok = _split_host_port(authority)
    if not ok:
        host, port = authority, ""
    host = host.strip().lower().rstrip(".")
    if not host:
        return text.lower()
    scheme = scheme or scheme_hint
    port = port or port_hint
    if port and DEFAULT_PORTS.get(scheme) == port:
        port = ""
    shown = f"[{host}]" if ":" in host and (scheme or port) else host
    if scheme:
        return f"{scheme}://{shown}:{port}" if port else f"{scheme}://{shown}"
    return f"{shown}:{port}" if port else shown


def _authority_part(text: str) -> str:
    """``text`` cut before its path/query/fragment, so paths never reach the cache."""
    sep = text.find("://")
    begin = sep + 3 if sep != -1 else 0
    end = len(text)
    for char in "/?#\\":
        found = text.find(char, begin)
        if found != -1 and found < end:
            end = found
    return text[:end] if end > begin else text


def normalize_asset(
    value: str | None,
    *,
    scheme: str | None = None,
    port: str | int | None = None,
) -> str:
    """Normalize one location string (URL, ``host:port``, hostname, IP).

    ``scheme`` and ``port`` are used only when ``value`` carries none itself (they come from
    the separate ``scheme``/``port`` fields of nuclei v3.1+). Returns ``""`` for an empty or
    missing value, otherwise a non-empty string.
    """
    if not value:
        return ""
    text = strip_nul(value).strip()
    if not text:
        return ""
    hint = scheme.strip().lower() if isinstance(scheme, str) else ""
    if hint and not _SCHEME_NAME_RE.fullmatch(hint):
        hint = ""
    return _normalize(_authority_part(text), hint, _port_text(port) if port else "")


def select_asset(
    matched_at: str | None = None,
    host: str | None = None,
    url: str | None = None,
    scheme: str | None = None,
    port: str | int | None = None,
    ip: str | None = None,
    default_target: str | None = None,
) -> str:
    """The normalized asset of a record; ``""`` when the record names no location at all.

    ``matched-at`` alone; else ``host``, then ``url``, with the record's ``scheme``/``port``;
    else ``default_target``; else ``ip``.
    """
    if matched_at:
        text = matched_at.strip()
        if text:
            return _normalize(_authority_part(text), "", "")
    for candidate in (host, url):
        if candidate:
            asset = normalize_asset(candidate, scheme=scheme, port=port)
            if asset:
                return asset
    if default_target:
        asset = normalize_asset(default_target)
        if asset:
            return asset
    if ip:
        return normalize_asset(ip, scheme=scheme, port=port)
    return ""


def _sha256_hex(text: str) -> str:
    try:
        data = text.encode()
    except UnicodeEncodeError:  # lone surrogates from a caller; never from the parser
        data = text.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def fingerprint(template_id: str, asset: str, matcher_name: str) -> str:
    """Finding identity: sha256 hex of ``template_id \\x1f asset \\x1f matcher_name``."""
    return _sha256_hex(f"{template_id.strip()}{_SEP}{asset}{_SEP}{matcher_name.strip()}")


def grouping_key(template_id: str, asset: str) -> str:
    """Default ticket grouping (one ticket per template per asset): sha256 hex."""
    return _sha256_hex(f"{template_id.strip()}{_SEP}{asset}")
