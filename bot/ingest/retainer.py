"""Retain a large body from a forked process while the body is parsed and written.

Escaping a large body into its JSON envelope and writing it to the evidence store takes about
as long as a re-ingest's database work. A child process (``os.fork``) streams the body into the
store as soon as the ingest starts; the envelope goes last (see
:func:`~bot.ingest.artifacts.artifact_parts`), so the parent hands over what the parse found
(container, target) when it knows it. A rejected or failed ingest cancels the child, which
stops between chunks and leaves nothing in the store.

Like :mod:`bot.ingest.forked`, only for a process with no other threads (the CLI).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from bot.ingest.body import Body, BodyDigest, BodyFacts
from bot.ingest.forked import ForkedChildError, fork_child, read_message, write_message
from integrations.evidence import EvidenceStoreError, StoredObject

# How long a cancelled child may take to stop before it is killed.
CANCEL_GRACE_SECONDS = 10.0

Retain = Callable[[Body, Callable[[], Mapping[str, Any]]], StoredObject]


class RetentionCancelledError(Exception):
    """The ingest ended without an accepted body: the artifact is not to be stored."""


class ForkedRetention:
    """``retain(body, metadata)`` running in a child; :meth:`provide` then :meth:`result`."""

    def __init__(self, body: Body, retain: Retain) -> None:
        from_parent, to_child = os.pipe()
        from_child, to_parent = os.pipe()
        pid = fork_child(
            lambda: _retain(from_parent, to_parent, body, retain), close=(to_child, from_child)
        )
        os.close(from_parent)
        os.close(to_parent)
        self._pid: int | None = pid
        self._to_child = to_child
        self._from_child: IO[bytes] = os.fdopen(from_child, "rb")
        self._finished = False

    def provide(self, metadata: Mapping[str, Any]) -> None:
        """What the parse found, for the envelope that closes the artifact."""
        # A child that already ended (its store failed) says why in :meth:`result`.
        with contextlib.suppress(BrokenPipeError):
            write_message(self._to_child, "metadata", dict(metadata))

    def result(self) -> tuple[StoredObject, BodyFacts]:
        """The stored artifact, and the body's digest (the child read the whole body, so the
        parent never has to)."""
        message = read_message(self._from_child)
        self._finished = True
        if message is None:
            raise ForkedChildError("the retaining process ended without a result")
        kind, payload = message
        if kind == "stored":
            return payload  # type: ignore[no-any-return]
        if kind == "unavailable":
            raise EvidenceStoreError(payload)
        raise ForkedChildError(f"the retaining process failed:\n{payload}")

    def close(self) -> None:
        if self._pid is None:
            return
        pid, self._pid = self._pid, None
        if not self._finished:
            with contextlib.suppress(OSError):  # the child may be gone already
                write_message(self._to_child, "cancel", None)
        os.close(self._to_child)
        self._from_child.close()
        deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        while os.waitpid(pid, os.WNOHANG) == (0, 0):
            if time.monotonic() > deadline:  # pragma: no cover - a store that hangs
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return
            time.sleep(0.005)

    def __enter__(self) -> ForkedRetention:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _Inbox:
    """Messages from the parent: the envelope's metadata, or a cancellation."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._source = os.fdopen(fd, "rb")
        self.metadata: Mapping[str, Any] | None = None

    def check(self) -> None:
        """Between chunks: take a message if one is waiting; stop if it is a cancellation."""
        if select.select([self._fd], [], [], 0)[0]:
            self._take()

    def wait_metadata(self) -> Mapping[str, Any]:
        while self.metadata is None:
            self._take()
        return self.metadata

    def _take(self) -> None:
        message = read_message(self._source)
        if message is None or message[0] == "cancel":
            raise RetentionCancelledError
        self.metadata = message[1]


class _CheckedBody(Body):
    """The body, read chunk by chunk with a cancellation check before each."""

    def __init__(self, body: Body, inbox: _Inbox) -> None:
        self._body = body
        self._inbox = inbox

    @property
    def digest(self) -> BodyDigest:
        return self._body.digest

    def chunks(self, size: int = 1 << 20) -> Iterator[bytes]:
        for chunk in self._body.chunks(size):
            self._inbox.check()
            yield chunk

    def close(self) -> None:
        pass


def _retain(  # pragma: no cover - runs in the child process
    inbox_fd: int, outbox_fd: int, body: Body, retain: Retain
) -> None:
    inbox = _Inbox(inbox_fd)
    try:
        stored = retain(_CheckedBody(body, inbox), inbox.wait_metadata)
        write_message(outbox_fd, "stored", (stored, body.facts))
    except RetentionCancelledError:
        pass
    except EvidenceStoreError as exc:
        write_message(outbox_fd, "unavailable", str(exc))
    except BaseException:
        write_message(outbox_fd, "failed", traceback.format_exc())
