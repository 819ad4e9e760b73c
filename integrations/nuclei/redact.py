"""Secret redaction for Nuclei results before they reach a tracker, Slack or the API.

* :func:`redact_meta` keeps every key of ``meta`` and replaces every value with
  ``"[REDACTED]"``: ``meta`` holds template payloads such as default credentials.
* :func:`redact_http` redacts secrets in raw HTTP request/response dumps and in curl
  commands, keeping the structure readable:

  - values of sensitive headers (``Authorization``, ``Proxy-Authorization``, ``Cookie``,
    ``Set-Cookie``, ``X-Api-Key``, ``X-Auth-Token`` and any header whose name contains
    ``token``, ``secret``, ``session``, ``apikey``, ``api-key``, ``api_key``, ``password``,
    ``passwd`` or ``credential``), as ``Authorization: [REDACTED]``, both on header lines and
    inside curl ``-H``/``--header`` arguments;
  - curl ``-b``/``--cookie`` and ``-u``/``--user`` arguments;
  - query/form parameters and JSON members whose name contains ``password``, ``passwd``,
    ``token``, ``secret``, ``api_key``/``apikey``/``api-key``, ``session`` or ``sessid``;
  - the password of ``scheme://user:password@host`` URLs;
  - ``Bearer <token>`` and JWT-looking ``eyJ….….…`` tokens anywhere.

Redaction is idempotent: redacting twice gives the same text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["REDACTED", "is_sensitive_name", "redact_http", "redact_meta"]

REDACTED = "[REDACTED]"

_SENSITIVE_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "x-auth-token",
    }
)
_SENSITIVE_PARTS = (
    "token",
    "secret",
    "session",
    "apikey",
    "api-key",
    "api_key",
    "password",
    "passwd",
    "credential",
)
_SENSITIVE_PARAM_RE = re.compile(
    r"password|passwd|token|secret|api[_-]?key|session|sessid", re.IGNORECASE
)

# A header line: optional indentation, a token name, a colon, the value up to end of line.
_HEADER_LINE_RE = re.compile(
    r"^([ \t]*)([!#$%&'*+.^_`|~0-9A-Za-z-]+)([ \t]*:[ \t]*)([^\r\n]*)",
    re.MULTILINE,
)
# curl -H 'Name: value' / --header "Name: value" (single or double quotes).
_CURL_HEADER_RE = re.compile(
    r"""((?:^|\s)(?:-H|--header)\s+)(['"])([^'":\r\n]+)(:[ \t]*)(.*?)(\2)""",
    re.DOTALL,
)
# curl -b/--cookie/-u/--user followed by a quoted or bare argument.
_CURL_SECRET_ARG_RE = re.compile(
    r"""((?:^|\s)(?:-b|--cookie|-u|--user)(?:\s+|=))(?:(['"])(.*?)\2|([^\s'"]+))""",
    re.DOTALL,
)
# name=value in a query string or form body.
_PARAM_RE = re.compile(r"""((?:^|[?&;\s'"])([A-Za-z0-9_.\-\[\]]+)=)([^&\s'"#;]*)""")
# "name": "value" in JSON bodies.
_JSON_MEMBER_RE = re.compile(r'("([A-Za-z0-9_.\-]+)"\s*:\s*")((?:[^"\\\r\n]|\\.)*)(")')
# The lookbehind starts a match only at the beginning of a word and the scheme is bounded, so
# a long alphanumeric run (a response body) costs linear time, not quadratic backtracking.
_URL_PASSWORD_RE = re.compile(
    r"(?<![A-Za-z0-9+.\-])([A-Za-z][A-Za-z0-9+.\-]{0,31}://[^/\s:@'\"]+:)([^/\s@'\"]+)(@)"
)
_BEARER_RE = re.compile(r"\b(Bearer\s+)(?!\[REDACTED\])[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")


def is_sensitive_name(name: str) -> bool:
    """True when a header or parameter name suggests that its value is a secret."""
    lowered = name.strip().lower()
    if lowered in _SENSITIVE_HEADERS:
        return True
    return any(part in lowered for part in _SENSITIVE_PARTS)


def redact_meta(meta: Mapping[str, object]) -> dict[str, object]:
    """Keep the keys of ``meta``, replace every value (nested ones included) with REDACTED."""
    return {str(key): REDACTED for key in meta}


def _header_line(match: re.Match[str]) -> str:
    if not is_sensitive_name(match.group(2)) or not match.group(4):
        return match.group(0)
    return f"{match.group(1)}{match.group(2)}{match.group(3)}{REDACTED}"


def _curl_header(match: re.Match[str]) -> str:
    if not is_sensitive_name(match.group(3)):
        return match.group(0)
    prefix, quote, name, colon = match.group(1, 2, 3, 4)
    return f"{prefix}{quote}{name}{colon}{REDACTED}{quote}"


def _curl_secret_arg(match: re.Match[str]) -> str:
    quote = match.group(2)
    if quote:
        return f"{match.group(1)}{quote}{REDACTED}{quote}"
    return f"{match.group(1)}{REDACTED}"


def _param(match: re.Match[str]) -> str:
    if not match.group(3) or not _SENSITIVE_PARAM_RE.search(match.group(2)):
        return match.group(0)
    return f"{match.group(1)}{REDACTED}"


def _json_member(match: re.Match[str]) -> str:
    if not match.group(3) or not _SENSITIVE_PARAM_RE.search(match.group(2)):
        return match.group(0)
    return f"{match.group(1)}{REDACTED}{match.group(4)}"


def redact_http(text: str) -> str:
    """Redact secrets in a raw HTTP dump or a curl command (see the module docstring).

    Each pattern runs only when its trigger appears in the text (a cheap substring test), so
    a plain response body costs a few scans in C rather than eight regex passes.
    """
    if not text:
        return text
    lowered = text.lower()
    out = text
    if ":" in out:
        out = _HEADER_LINE_RE.sub(_header_line, out)
    if "-h" in lowered or "--header" in lowered:
        out = _CURL_HEADER_RE.sub(_curl_header, out)
    if any(flag in lowered for flag in ("-b", "-u", "--cookie", "--user")):
        out = _CURL_SECRET_ARG_RE.sub(_curl_secret_arg, out)
    if "=" in out and _SENSITIVE_PARAM_RE.search(lowered):
        out = _PARAM_RE.sub(_param, out)
    if '"' in out:
        out = _JSON_MEMBER_RE.sub(_json_member, out)
    if "://" in out and "@" in out:
        out = _URL_PASSWORD_RE.sub(lambda m: f"{m.group(1)}{REDACTED}{m.group(3)}", out)
    if "bearer" in lowered:
        out = _BEARER_RE.sub(lambda m: f"{m.group(1)}{REDACTED}", out)
    if "eyJ" in out:
        out = _JWT_RE.sub(REDACTED, out)
    return out
