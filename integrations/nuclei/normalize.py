"""One decoded Nuclei event to exactly one of

* :class:`~integrations.nuclei.records.NucleiResult`: a finding (``matcher-status`` true or
  absent, as before v2.5.4);
* :class:`~integrations.nuclei.records.Ignored`: an event that is not a finding
  (``matcher-status: false``, or an ``error`` event written by ``-ms``);
* :class:`~integrations.nuclei.records.Invalid`: a value that cannot be a finding (not an
  object, no template id, ``info`` not an object).

A finding with no location at all (no ``matched-at``/``host``/``url``, no default target, no
``ip``; e.g. nuclei's dns ``nameserver-fingerprint`` on the root zone) gets the placeholder
asset :data:`~integrations.nuclei.identity.UNKNOWN_ASSET` ``"(unknown)"``.

It never raises on any JSON value. Both key styles are accepted (``template-id``/
``templateID``, ``matched-at``/``matched``, ``matcher-name``/``matcher_name``,
``extractor-name``/``extractor_name``, ``extracted-results``/``extracted_results``), ``null``
is accepted anywhere, and string-or-list fields (``author``, ``tags``, ``reference``) accept a
list, a comma string, a YAML block string or ``null``.

A finding is read in two steps. :func:`identify_record` reads what identifies it and what a
sighting of a known finding needs (template, asset, matcher, fingerprint, severity, time);
:meth:`Identified.complete` reads the rest (evidence, classification, request/response, and
the ``host``/``port``/``scheme``/``url``/``ip`` fields, which the first step reads only when
there is no ``matched-at`` to name the asset). A re-ingest mostly sees findings it already
knows and needs only the first step: the second was about half of the work.
:func:`normalize_record` does both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, make_dataclass
from datetime import datetime
from typing import cast

from integrations.nuclei.identity import UNKNOWN_ASSET, fingerprint, grouping_key, select_asset
from integrations.nuclei.identity import strip_nul as _strip_nul
from integrations.nuclei.records import (
    _PROTOCOL_ALIASES,
    Ignored,
    Invalid,
    NucleiResult,
    ParsedItem,
    Severity,
    _body,
    _ignored_reason,
    _info_fields,
    _InfoFields,
    _raw_list,
    _text,
    _where,
    parse_timestamp,
)

__all__ = ["Identified", "identify_record", "normalize_record"]


@dataclass(slots=True, eq=False)
class Identified:
    """A finding's identity and what a sighting of it needs; :meth:`complete` gives the
    :class:`NucleiResult`."""

    index: int
    record: dict[str, object]
    template_id: str
    info: _InfoFields
    matched_at: str | None
    asset: str
    matcher_name: str
    protocol: str
    timestamp: datetime | None
    fingerprint: str
    grouping_key: str

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def severity(self) -> Severity:
        return self.info.severity

    @property
    def cve_ids(self) -> tuple[str, ...]:
        return self.info.cve_ids

    def complete(self) -> NucleiResult:
        get, info = self.record.get, self.info
        extractor = get("extractor-name")
        extractor_name = _text(extractor if extractor is not None else get("extractor_name")) or ""
        raw_meta = get("meta")
        extracted = get("extracted-results")
        curl = get("curl-command")
        return _new_result(
            self.index,
            self.template_id,
            info.name,
            info.severity,
            self.matcher_name,
            extractor_name,
            self.protocol,
            *_location(get),
            self.matched_at,
            _optional_text(get("ip")),
            self.timestamp,
            info.cve_ids,
            info.cwe_ids,
            info.cvss_score,
            info.cvss_metrics,
            info.epss_score,
            info.tags,
            info.authors,
            info.references,
            info.description,
            info.remediation,
            raw_meta if type(raw_meta) is dict else {},
            _body(get("request")),
            _body(get("response")),
            _body(curl if curl is not None else get("curl_command")),
            _raw_list(extracted if extracted is not None else get("extracted_results")),
            self.asset,
            self.fingerprint,
            self.grouping_key,
        )


# A frozen dataclass assigns each field through object.__setattr__, which costs ~7 us for 32
# fields on the hot path. This twin has the same slots in the same order, so it is built with
# plain attribute stores and then re-labelled as NucleiResult: the object is exactly what
# NucleiResult(...) would build (equal, frozen, same type).
_MutableResult = make_dataclass(
    "_MutableResult",
    [(field.name, field.type) for field in fields(NucleiResult)],
    slots=True,
    eq=False,
    repr=False,
)


def _new_result(*values: object) -> NucleiResult:
    result = _MutableResult(*values)
    result.__class__ = NucleiResult
    return cast(NucleiResult, result)


def _optional_text(value: object) -> str | None:
    return _text(value) if value is not None else None


def _location(
    get: Callable[[str], object],
) -> tuple[str | None, str | None, str | None, str | None]:
    """A record's ``host``, ``port``, ``scheme`` and ``url`` fields, as text."""
    return (
        _text(get("host")),
        _optional_text(get("port")),
        _optional_text(get("scheme")),
        _optional_text(get("url")),
    )


def identify_record(
    value: object,
    index: int,
    line: int | None = None,
    *,
    default_target: str | None = None,
) -> Identified | Ignored | Invalid:
    """The first step of :func:`normalize_record`: everything but the evidence. Never
    raises."""
    if type(value) is not dict:
        kind = "null" if value is None else type(value).__name__
        return Invalid(index, line, f"{_where(index, line)}: not a JSON object (got {kind})")
    record: dict[str, object] = value
    if record.get("matcher-status") is not True or "error" in record:
        reason = _ignored_reason(record)
        if reason is not None:
            return Ignored(index, reason)

    get = record.get
    raw_id = get("template-id")
    if raw_id is None:
        raw_id = get("templateID")
    if type(raw_id) is not str or not (template_id := _strip_nul(raw_id).strip()):
        problem = (
            'missing "template-id"'
            if raw_id is None or raw_id == ""
            else '"template-id" is not a non-empty string'
        )
        return Invalid(index, line, f"{_where(index, line)}: {problem}")

    raw_info = get("info")
    if type(raw_info) is dict:
        info = _info_fields(template_id, raw_info)
    elif raw_info is None:
        info = _info_fields(template_id, {})
    else:
        return Invalid(index, line, f'{_where(index, line)}: "info" is not an object')

    matched = get("matched-at")
    matched_at = _text(matched if matched is not None else get("matched"))
    # matched-at alone names the asset; the other location fields wait for complete().
    asset = select_asset(matched_at) if matched_at else ""
    if not asset:
        host, port, scheme, url = _location(get)
        asset = select_asset(
            None, host, url, scheme, port, _optional_text(get("ip")), default_target
        )
    if not asset:  # e.g. a dns event on the root zone: still a finding, on a placeholder
        asset = UNKNOWN_ASSET

    matcher = get("matcher-name")
    matcher_name = _text(matcher if matcher is not None else get("matcher_name")) or ""
    protocol = (_text(get("type")) or "").lower()
    return Identified(
        index,
        record,
        template_id,
        info,
        matched_at,
        asset,
        matcher_name,
        _PROTOCOL_ALIASES.get(protocol, protocol),
        parse_timestamp(get("timestamp")),
        fingerprint(template_id, asset, matcher_name),
        grouping_key(template_id, asset),
    )


def normalize_record(
    value: object,
    index: int,
    line: int | None = None,
    *,
    default_target: str | None = None,
) -> ParsedItem:
    """Normalize one decoded JSON value. Never raises."""
    item = identify_record(value, index, line, default_target=default_target)
    return item.complete() if isinstance(item, Identified) else item
