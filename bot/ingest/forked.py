"""Parse a large body in a forked child while this process writes to the database.

A CLI ingest of a large scan spends about as long parsing as writing, on one core. Here a
child process (``os.fork``: it shares the loaded code and settings, nothing is re-imported)
reads and parses the body (or one part of it, see :mod:`bot.ingest.parallel`) and builds the
evidence of the findings that may be new; the parent receives batches of
:class:`~bot.ingest.sightings.Sighting` and runs the pipeline. (The raw body is retained by
a sibling, :mod:`bot.ingest.retainer`; :mod:`bot.ingest.parallel` starts them all.) The
child appends each message to an unlinked spool file and announces it on a pipe with its
length: it can run ahead of the parent while neither holds more than a batch in
memory (a pipe alone holds 1 MiB, less than one batch with its evidence, and kept the two
processes taking turns). The parent acknowledges what it has read on a third pipe, and the
child waits once it is :data:`SPOOL_AHEAD_LIMIT` bytes ahead: the spool's disk use is bounded,
whatever the size of the scan.

Only for a process with no other threads (the CLI): forking a multi-threaded server could
copy a lock held by another thread. The parent's transaction decides everything: a body with
invalid records is reported by the child and rejected by the parent, and a parent that fails
kills the child.

Messages are ``(kind, payload)`` pickles:

* ``("batch", (sightings, bytes_read, known_ids))``: sightings as :func:`wire_of` tuples;
  ``known_ids`` maps the fingerprints that existed to their findings' ids
* ``("rejected", problems)``: the first invalid records; nothing else follows
* ``("parsed", Parsed)``: what the body declared, after the last batch
* ``("failed", traceback)``: the child crashed
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import signal
import struct
import tempfile
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, NamedTuple

from bot.ingest.sightings import Sighting, from_wire, wire_of
from integrations.nuclei import (
    Identified,
    Ignored,
    Invalid,
    NucleiStream,
    count_lines_and_records,
)

BATCH = 2000
MAX_REPORTED_PROBLEMS = 20
# How far (in spooled bytes) a parser may run ahead of the parent before it waits.
SPOOL_AHEAD_LIMIT = 256 * 1024 * 1024
_FRAME = struct.Struct("!Q")


@dataclass(frozen=True, slots=True)
class Parsed:
    """What the body declared, known once every record has been read."""

    container: str
    target: str | None
    scan_metadata: dict[str, object] | None
    ignored: int


class Batch(NamedTuple):
    """Sightings parsed by a child, the bytes it had read by then, and the ids of the
    findings that existed before this ingest (by fingerprint)."""

    sightings: list[Sighting]
    read: int
    known_ids: dict[str, int]


def write_message(fd: int, kind: str, payload: object) -> None:
    """One ``(kind, payload)`` message on a pipe, framed by its length."""
    data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
    _write_all(fd, _FRAME.pack(len(data)) + data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_message(source: IO[bytes]) -> tuple[str, Any] | None:
    """The next message written by :func:`write_message`; None once the writer is gone."""
    header = source.read(_FRAME.size)
    if len(header) < _FRAME.size:
        return None
    (length,) = _FRAME.unpack(header)
    # Only slabot's own forked processes write these pipes.
    kind, payload = pickle.loads(source.read(length))  # noqa: S301
    return kind, payload


# Allocations between collections of the youngest generation (CPython's default: 700).
_BULK_GC_THRESHOLD = 50_000


@contextlib.contextmanager
def settled_heap() -> Iterator[None]:
    """For one large ingest: what is loaded now outlives it, so it is kept out of the
    collector's full passes (which would walk it again and again; it stays out, as the web
    app's start-up heap does), and while the ingest runs, its batches' short-lived rows
    (freed by reference counting, not by the collector) do not trigger a collection every
    few hundred allocations."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(_BULK_GC_THRESHOLD, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)


# The parent writes everything the children produce, alone: when there are fewer cores than
# processes, the scheduler's fair share would give it half a core while it is the one the
# whole ingest waits for. The children yield to it.
CHILD_NICENESS = 10


def fork_child(work: Callable[[], None], *, close: tuple[int, ...] = ()) -> int:
    """Fork a child that closes the parent's ends of its pipes (``close``), runs ``work`` and
    exits: it never returns into the caller's code, whatever happens. The parent gets the pid.

    The inherited heap is not the child's garbage: a collection walking it would copy every
    page it touches (copy-on-write) and take seconds on a large parent, so it is frozen
    (:func:`settled_heap`)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child; its effects are tested
        status = 0
        try:
            with contextlib.suppress(OSError):
                os.nice(CHILD_NICENESS)
            for fd in close:
                os.close(fd)
            with settled_heap():
                work()
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    return pid


class ForkedChildError(RuntimeError):
    """A forked ingest child (parser or retainer) failed or ended without a result."""


def read_stream(
    stream: NucleiStream,
    accept: Callable[[Any], None],
    *,
    max_problems: int,
    identified: bool = False,
) -> Parsed | list[str]:
    """Feed every finding to ``accept``: the body's declarations, or its first problems.
    ``identified``: findings as :class:`~integrations.nuclei.Identified`, to be completed
    only where needed."""
    problems: list[str] = []
    ignored = 0
    items: Iterable[object] = stream.identified() if identified else stream
    for item in items:
        if isinstance(item, Invalid):
            problems.append(item.message)
            if len(problems) >= max_problems:
                break
        elif problems:
            continue  # keep reading only to report further problems
        elif isinstance(item, Ignored):
            ignored += 1
        else:
            accept(item)
    if problems:
        return problems
    return Parsed(stream.container, stream.default_target, stream.scan_metadata, ignored)


class ForkedParse:
    """Batches parsed by a child process, then the body's declarations (or its problems).

    Use as a context manager: leaving it always ends and reaps the child.
    """

    def __init__(
        self,
        chunks: Callable[[], Iterator[bytes]],
        *,
        target: str | None,
        max_problems: int,
        known: Callable[[list[str]], dict[str, int]] | None = None,
        after: Callable[[], Iterator[bytes]] | None = None,
    ) -> None:
        """``chunks``: the bytes to parse. ``after``: given when they are the line-by-line
        rest of a body (see :mod:`bot.ingest.parallel`), the bytes before them; they are
        read only to number the records of a rejected part."""
        self.parsed: Parsed | None = None
        self.problems: list[str] = []
        self._spool = tempfile.TemporaryFile(prefix="slabot-parse-")  # noqa: SIM115
        self._offset = 0
        read_fd, write_fd = os.pipe()
        acks_read, acks_write = os.pipe()
        spool_fd = self._spool.fileno()
        channel = _Channel(spool_fd, write_fd, acks_read)
        pid = fork_child(
            lambda: _parse(channel, chunks, target, max_problems, known, after),
            close=(read_fd, acks_write),
        )
        os.close(write_fd)
        os.close(acks_read)
        # Never blocks: an acknowledgement that does not fit is superseded by the next one.
        os.set_blocking(acks_write, False)
        self._acks = acks_write
        self._pid: int | None = pid
        self._lengths: IO[bytes] = os.fdopen(read_fd, "rb")

    def batches(self) -> Iterator[Batch]:
        """The batches until the body is parsed; then ``parsed`` is set, or ``problems`` if
        the body is to be rejected."""
        while True:
            kind, payload = self._receive()
            if kind == "batch":
                wires, read, known_ids = payload
                yield Batch([from_wire(wire) for wire in wires], read, known_ids)
            elif kind == "rejected":
                self.problems = payload
                return
            elif kind == "parsed":
                self.parsed = payload
                return
            else:
                raise ForkedChildError(f"unexpected message {kind!r} from the parser")

    def _receive(self) -> tuple[str, Any]:
        header = self._lengths.read(_FRAME.size)
        if len(header) < _FRAME.size:
            raise ForkedChildError("the parsing process ended without a result")
        (length,) = _FRAME.unpack(header)
        data = os.pread(self._spool.fileno(), length, self._offset)
        self._offset += length
        with contextlib.suppress(BlockingIOError, BrokenPipeError):
            os.write(self._acks, _FRAME.pack(self._offset))
        # Only our own forked child writes this spool.
        kind, payload = pickle.loads(data)  # noqa: S301
        if kind == "failed":
            raise ForkedChildError(f"the parsing process failed:\n{payload}")
        return kind, payload

    def close(self) -> None:
        self._lengths.close()
        self._spool.close()
        with contextlib.suppress(OSError):
            os.close(self._acks)
        if self._pid is not None:
            pid, self._pid = self._pid, None
            try:
                os.kill(pid, signal.SIGKILL)  # a no-op once it has exited (it is unreaped)
            except ProcessLookupError:  # pragma: no cover - already reaped elsewhere
                return
            os.waitpid(pid, 0)

    def __enter__(self) -> ForkedParse:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class _Channel:
    """The child's end of :class:`ForkedParse`'s spool and pipes."""

    def __init__(self, spool_fd: int, lengths_fd: int, acks_fd: int) -> None:
        self.spool_fd, self.lengths_fd, self.acks_fd = spool_fd, lengths_fd, acks_fd
        self.written = self.acknowledged = 0

    def send(self, kind: str, payload: object) -> None:
        data = pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL)
        while self.written - self.acknowledged > SPOOL_AHEAD_LIMIT:
            self._wait_for_reader()
        _write_all(self.spool_fd, data)
        self.written += len(data)
        os.write(self.lengths_fd, _FRAME.pack(len(data)))  # 8 bytes: never a partial write

    def _wait_for_reader(self) -> None:
        acks = os.read(self.acks_fd, _FRAME.size * 1024)  # 8-byte writes arrive whole
        if not acks:
            raise ForkedChildError("the parent stopped reading")
        (self.acknowledged,) = _FRAME.unpack(acks[-_FRAME.size :])

    def close(self) -> None:
        os.close(self.lengths_fd)


def _parse(  # pragma: no cover - runs in the child process
    channel: _Channel,
    chunks: Callable[[], Iterator[bytes]],
    target: str | None,
    max_problems: int,
    known: Callable[[list[str]], dict[str, int]] | None,
    after: Callable[[], Iterator[bytes]] | None,
) -> None:
    send = channel.send
    read = 0

    def counted() -> Iterator[bytes]:
        nonlocal read
        for chunk in chunks():
            read += len(chunk)
            yield chunk

    batch: list[Identified] = []

    def flush() -> None:
        existing = known([r.fingerprint for r in batch]) if known is not None else {}
        sightings = [wire_of(r, evidence=r.fingerprint not in existing) for r in batch]
        send("batch", (sightings, read, existing))
        batch.clear()

    def accept(result: Identified) -> None:
        batch.append(result)
        if len(batch) >= BATCH:
            flush()

    def stream_of(chunks: Iterator[bytes], first_line: int, first_index: int) -> NucleiStream:
        if after is None:
            return NucleiStream(chunks, default_target=target)
        return NucleiStream.continuing(
            chunks, default_target=target, first_line=first_line, first_index=first_index
        )

    try:
        outcome = read_stream(
            stream_of(counted(), 1, 0), accept, max_problems=max_problems, identified=True
        )
        if isinstance(outcome, list) and after is not None:
            # Name the problems by their place in the whole body: counting the lines before
            # this part costs a read of them, paid only when there is something to report.
            lines, records = count_lines_and_records(after())
            outcome = read_stream(
                stream_of(chunks(), lines + 1, records),
                lambda _result: None,
                max_problems=max_problems,
                identified=True,
            )
        if isinstance(outcome, list):
            send("rejected", outcome)
        else:
            flush()
            send("parsed", outcome)
    except BaseException:
        send("failed", traceback.format_exc())
    channel.close()
