"""The HTTP side of the fake Slack Web API (:mod:`tests.fakes.slack`): a request as Slack reads
it (query string, form or JSON body merged; JSON-in-form fields decoded), and the record of
each call."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")

# (Slack method, parsed body, lower-case headers) -> (HTTP status, JSON answer, extra headers)
Handle = Callable[[str, dict[str, Any], dict[str, str]], tuple[int, dict[str, Any], dict[str, str]]]


@dataclass(frozen=True, slots=True)
class RecordedCall:
    """One request the fake received (rate-limited and failed attempts included)."""

    method: str  # Slack method ("chat.postMessage") or "response_url"
    http_method: str
    path: str
    body: dict[str, Any]  # query + form/JSON fields; JSON-in-form fields (blocks, view) decoded
    headers: dict[str, str]  # lower-case names
    status: int  # HTTP status the fake answered with
    response: dict[str, Any]

    @property
    def auth(self) -> str | None:
        return self.headers.get("authorization")


def parse_body(raw: bytes, content_type: str, query: str) -> dict[str, Any]:
    body: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    if not raw:
        return body
    if content_type.startswith("application/json"):
        parsed = json.loads(raw)
        if isinstance(parsed, dict):
            body.update(parsed)
        return body
    body.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    for key in _JSON_FIELDS:
        value = body.get(key)
        if isinstance(value, str) and value[:1] in ("[", "{"):
            with contextlib.suppress(ValueError):
                body[key] = json.loads(value)
    return body


def method_of(path: str) -> str:
    if path.startswith("/actions/"):
        return "response_url"
    return path.removeprefix("/api/").strip("/")


def make_handler(
    handle: Handle, record: Callable[[RecordedCall], None]
) -> type[BaseHTTPRequestHandler]:
    """A request handler class that parses each request as Slack would, asks ``handle`` for
    the answer, and passes the call to ``record``."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            method = method_of(parts.path)
            try:
                body = parse_body(raw, headers.get("content-type", ""), parts.query)
            except ValueError:
                body = {}
                status, answer, extra = 200, {"ok": False, "error": "invalid_json"}, {}
            else:
                status, answer, extra = handle(method, body, headers)
            record(RecordedCall(method, self.command, parts.path, body, headers, status, answer))
            payload = json.dumps(answer).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout tests)
                pass

        do_POST = _serve
        do_GET = _serve

        def log_message(self, format: str, *args: Any) -> None:  # silence stderr
            return

    return Handler
