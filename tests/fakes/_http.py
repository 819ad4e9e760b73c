"""A threaded loopback HTTP server with failure injection, the base of the fake trackers.

Each request is recorded (:attr:`FakeServer.requests`), then may be hit by an injected failure,
in this order:

* planned (``fail_next`` / ``hang_next`` / ``lose_next``), first match wins, each used once;
* random, with the server's seeded RNG: ``failure_rate`` (429 with Retry-After, 500 or 503,
  nothing performed) and ``lose_reply_rate`` (writes only: performed, then the connection is
  dropped without a reply — the "lost reply" that makes naive clients create duplicates).

``match`` filters a planned failure to requests whose label (``"POST /rest/api/3/issue"``, or
the GraphQL operation name for Linear) contains the given text.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeServer", "Recorded", "Reply"]

WRITE_METHODS = {"POST", "PUT", "DELETE", "PATCH"}


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    label: str = ""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-serialisable, or bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Planned:
    kind: str  # "fail" | "hang" | "lose"
    match: str | None
    reply: Reply | None = None
    seconds: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that timed out or were dropped on purpose: nothing to report


class FakeServer:
    """Subclasses implement :meth:`route` (and optionally :meth:`label`)."""

    def __init__(
        self, *, seed: int = 0, failure_rate: float = 0.0, lose_reply_rate: float = 0.0
    ) -> None:
        self.rng = random.Random(seed)
        self.failure_rate = failure_rate
        self.lose_reply_rate = lose_reply_rate
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.injected: list[tuple[str, str]] = []  # (kind, label) of every injected failure
        self._planned: list[_Planned] = []
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> FakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # headers and body go out in separate writes: without this, Nagle + delayed
                # ACK add ~40 ms to every keep-alive request
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- failure injection ---------------------------------------------------------------------

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        retry_after: str | int | None = None,
        match: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``n`` matching requests get ``status`` (nothing is performed)."""
        hdrs = dict(headers or {})
        if retry_after is not None:
            hdrs["Retry-After"] = str(retry_after)
        reply = Reply(status, body if body is not None else self.error_body(status), hdrs)
        with self.lock:
            self._planned += [_Planned("fail", match, reply) for _ in range(n)]

    def hang_next(self, n: int = 1, *, seconds: float = 1.0, match: str | None = None) -> None:
        """The next ``n`` matching requests sleep ``seconds`` before being handled (set it past
        the client's timeout). The request is still performed after the sleep."""
        with self.lock:
            self._planned += [_Planned("hang", match, seconds=seconds) for _ in range(n)]

    def lose_next(self, n: int = 1, *, match: str | None = None) -> None:
        """The next ``n`` matching requests are performed, then the connection is dropped."""
        with self.lock:
            self._planned += [_Planned("lose", match) for _ in range(n)]

    def clear_failures(self) -> None:
        with self.lock:
            self._planned.clear()
            self.failure_rate = self.lose_reply_rate = 0.0

    def error_body(self, status: int) -> Any:
        return {"error": f"injected HTTP {status}"}

    def requests_to(self, text: str) -> list[Recorded]:
        return [r for r in self.requests if text in r.label]

    # --- subclass hooks ------------------------------------------------------------------------

    def label(self, req: Recorded) -> str:
        return f"{req.method} {req.path}"

    def route(self, req: Recorded) -> Reply:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- dispatch ------------------------------------------------------------------------------

    def _pick(self, req: Recorded) -> _Planned | None:
        with self.lock:
            for i, planned in enumerate(self._planned):
                if planned.match is None or planned.match in req.label:
                    return self._planned.pop(i)
            if self.failure_rate and self.rng.random() < self.failure_rate:
                status = self.rng.choice((429, 500, 503))
                hdrs = {"Retry-After": "1"} if status in (429, 503) else {}
                return _Planned("fail", None, Reply(status, self.error_body(status), hdrs))
            if (
                req.method in WRITE_METHODS
                and self.lose_reply_rate
                and self.rng.random() < self.lose_reply_rate
            ):
                return _Planned("lose", None)
        return None

    def _dispatch(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        parts = urlsplit(h.path)
        req = Recorded(
            method=h.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k: v for k, v in h.headers.items()},
            body=body,
        )
        req.label = self.label(req)
        with self.lock:
            self.requests.append(req)
        planned = self._pick(req)
        if planned is not None:
            with self.lock:
                self.injected.append((planned.kind, req.label))
        if planned is not None and planned.kind == "hang":
            time.sleep(planned.seconds)
        if planned is not None and planned.kind == "fail":
            assert planned.reply is not None
            reply = planned.reply
        else:
            with self.lock:
                try:
                    reply = self.route(req)
                except Exception as exc:  # a bug in the fake: make it loud in the client
                    reply = Reply(500, {"error": f"fake crashed: {exc!r}"})
        if planned is not None and planned.kind == "lose":
            h.close_connection = True
            return
        self._write(h, reply)

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            payload = reply.body
        elif reply.body is None:
            payload = b""
        else:
            payload = json.dumps(reply.body).encode()
        try:
            h.send_response(reply.status)
            if payload:
                h.send_header("Content-Type", "application/json;charset=UTF-8")
            for name, value in reply.headers.items():
                h.send_header(name, value)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            h.wfile.flush()
        except OSError:
            h.close_connection = True  # the client gave up (timeout)
