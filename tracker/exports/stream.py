"""Exports sent while they are written: the page's download starts at once, memory stays flat.

A writer (tracker.exports.formats) writes to a file object. Here that file is a pipe into the
HTTP response: a thread runs the writer with a database session of its own, and its blocks go
through a bounded queue (DEPTH blocks of BLOCK bytes) to the response, so however large the
export, a few blocks are in memory and the first bytes leave as soon as the writer makes them.

The audit row is committed before the first byte, so an aborted download still leaves its trace
(`rows` empty); the thread writes the row count into it once the file is complete. A failure
before the first block raises in the request (a form error for bad input, which takes the audit
row back: nothing was sent); one after it aborts the response, which a browser reports as a
failed download, never as a complete file. A client that goes away stops the writer.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy.orm import Session

from tracker.errors import InvalidInput
from tracker.exports import formats
from tracker.exports.core import Filters, Options
from tracker.models import AuditLog, User

BLOCK = 256 * 1024
DEPTH = 8  # blocks between the writer and the client: at most 2 MB
FIRST_WAIT_S = 0.5  # how long the request waits for the first block (or an early error)
_END = object()
_running: dict[threading.Thread, _Pipe] = {}  # writers still at work, for stop_all


class Cancelled(Exception):
    """The client went away: the writer stops."""


class _Pipe(io.RawIOBase):
    """A write-only file whose blocks go to a bounded queue; writing blocks while it is full."""

    def __init__(self):
        self.blocks: queue.Queue = queue.Queue(DEPTH)
        self.cancelled = threading.Event()
        self.finished = False  # after the end: late writes (a buffer's flush) are dropped

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        if self.finished:
            return len(data)
        self._put(bytes(data))
        return len(data)

    def _put(self, item) -> None:
        while not self.cancelled.is_set():
            try:
                self.blocks.put(item, timeout=0.25)
                return
            except queue.Full:
                continue
        raise Cancelled

    def finish(self, item) -> None:
        """The last item: _END, or the writer's exception."""
        self.finished = True
        with contextlib.suppress(Cancelled):  # else nobody is reading any more
            self._put(item)


@dataclass
class Download:
    """A started export: `first` (the first block, or b"" if it is not ready yet), then the rest."""

    first: bytes
    pipe: _Pipe

    def blocks(self) -> Iterator[bytes]:
        try:
            # Nothing yet (a large export's first block can take seconds): an empty block has
            # the server send the headers now, so the browser's download starts at once.
            yield self.first
            while (item := self.pipe.blocks.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.pipe.cancelled.set()  # finished, failed or the client went away


def start(
    session: Session,
    sessions: Callable[[], Session],
    fmt: str,
    filters: Filters,
    options: Options,
    actor: User | None = None,
) -> Download:
    """Commit the export's audit row, start writing it in a thread with sessions from
    `sessions`, and wait up to FIRST_WAIT_S for its first block. Raises InvalidInput (and takes
    the audit row back) if the writer refuses the request before writing anything."""
    found = formats.check(fmt, options)
    entry = formats.audit_export(session, actor, fmt, filters, options, rows=None)
    session.commit()
    pipe = _Pipe()
    worker = threading.Thread(
        target=_write,
        args=(sessions, found.write, filters, options, entry.id, pipe),
        name=f"export-{entry.id}",
        daemon=True,
    )
    _running[worker] = pipe
    worker.start()
    try:
        first = pipe.blocks.get(timeout=FIRST_WAIT_S)
    except queue.Empty:
        return Download(b"", pipe)
    if first is _END:
        pipe.blocks.put(_END)
        return Download(b"", pipe)
    if isinstance(first, BaseException):
        pipe.cancelled.set()
        if isinstance(first, InvalidInput):
            session.delete(session.get(AuditLog, entry.id))
            session.commit()
        raise first
    return Download(first, pipe)


def _write(sessions, write, filters: Filters, options: Options, audit_id: int, pipe: _Pipe):
    out = io.BufferedWriter(pipe, BLOCK)
    try:
        with sessions() as session:
            rows = write(session, filters, out, options)
        out.flush()
        # A session of its own: on SQLite, the reading one could not turn into a writer if
        # anything was written meanwhile.
        with sessions() as session:
            entry = session.get(AuditLog, audit_id)
            entry.details = {**entry.details, "rows": rows}
            session.commit()
    except BaseException as exc:  # handed to the response, which raises it
        pipe.finish(exc)
    else:
        pipe.finish(_END)
    finally:
        _running.pop(threading.current_thread(), None)


def stop_all(timeout: float = 10) -> None:
    """Stop the exports still being written and wait for their threads (before a process lets
    its database go: a worker shutting down, the end of a test)."""
    for worker, pipe in list(_running.items()):
        pipe.cancelled.set()
        worker.join(timeout)
