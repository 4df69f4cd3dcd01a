"""A card's files prepared on workers (tracker.preparing, one file), in order, with a bounded
number in flight.

Without previews the workers are threads: reading, hashing and writing release the GIL. With
previews, or held, they are a process per core (see _start_pool): forked, or started from a
clean server where other threads run (start_method). Each process writes its originals on a
thread of its own and dies with the process that started it (tracker.processes).

A Preparation may start before its destination is checked (held): `tracker import ...
--deployment N` starts one before its app has loaded (tracker.cli). Its processes then read,
check and hash their first files (and make their previews) in memory, and write nothing until
the Gate opens.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing.context import BaseContext

from tracker import photo_text, processes, storage
from tracker import previews as preview_files
from tracker.preparing import Limits, Outcome, Prepared, StoreBudget, hold, prepare
from tracker.sources import Item

# Reading, hashing and writing release the GIL. Each worker also waits for its file to reach the
# disk (storage.write_original), so one thread more than the cores keeps both the cores and the
# disk busy while the main thread parses and inserts (measured: 2 cores, 3 threads).
WORKERS = (os.cpu_count() or 1) + 1
# With previews, or held, a process per core instead (see _start_pool), given this many files a
# task.
PROCESSES = os.cpu_count() or 1
CHUNK = 4
# A deep window keeps the workers writing while the main thread syncs and inserts.
IN_FLIGHT = 16 * WORKERS
# While its gate is shut, each process takes up to this many files at once, and prepares them in
# memory up to this many bytes, then waits; once the gate opens it writes them and prepares the
# rest of its share as usual. A command's app loads in about 0.5 s, on a core of its own: about
# 30 photos' previews, or 300 photos read and hashed.
HELD = 128
HELD_BYTES = 64 * 1024 * 1024


class Gate:
    """Whether the preparing processes may write yet.

    Shut while the destination is being checked; once it opens they write what they hold and
    go on as usual. If it is abandoned (the import was refused, or failed before it began) they
    drop what they hold, having written nothing.
    """

    def __init__(self, context: BaseContext) -> None:
        self._decided = context.Event()
        self._verdict = context.RawValue("b", 0)

    def open(self) -> None:
        self._verdict.value = 1
        self._decided.set()

    def abandon(self) -> None:
        self._verdict.value = -1
        self._decided.set()

    def is_open(self) -> bool:
        return self._verdict.value == 1

    def abandoned(self) -> bool:
        return self._verdict.value == -1

    def wait(self) -> bool:
        """Until it is decided: True if it opened."""
        self._decided.wait()
        return self.is_open()


class Preparation:
    """The results of preparing `items`, in order (results()), on workers started now.

    `held`: nothing is written until results() is first asked for; until then the processes
    prepare their first files in memory (HELD, HELD_BYTES). abandon() drops those.
    """

    def __init__(
        self,
        items: Iterable[Item],
        media_dir: str,
        limits: Limits,
        budget: StoreBudget,
        previews: bool,
        *,
        held: bool = False,
    ) -> None:
        self.media_dir, self.limits, self.previews = media_dir, limits, previews
        self._items = iter(items)
        self._budget = budget
        # Each task's future, its number of files, and whether it was taken while held.
        self._window: deque[tuple[Future, int, bool]] = deque()
        self._gate: Gate | None = None
        self._started = False
        self._pool = self._start_pool(held)

    def results(self) -> Iterator[Prepared | Outcome]:
        """Each file's result, in the items' order; writing starts now."""
        self._started = True
        if self._gate is not None:
            self._gate.open()
        # A process gets a few files a task: each task crosses two pipes and two threads.
        size = CHUNK if isinstance(self._pool, ProcessPoolExecutor) else 1
        with self._pool:
            # The held tasks come first but count for nothing: the processes have their next
            # files queued while this one takes in the held ones.
            while self._submit(self._pool, size):
                if sum(count for _f, count, held in self._window if not held) >= IN_FLIGHT:
                    yield from self._window.popleft()[0].result()
            while self._window:
                yield from self._window.popleft()[0].result()

    def abandon(self) -> None:
        """Stop the workers, if results() never started: nothing was written."""
        if self._started:
            return
        self._started = True
        if self._gate is not None:
            self._gate.abandon()
        self._pool.shutdown(cancel_futures=True)

    def _start_pool(self, held: bool) -> Executor:
        """Threads, or with previews (or held) a process per core.

        Pillow held the GIL while it encoded a JPEG (py-spy --gil: 42 % of the time the GIL was
        held during a card's import with previews), so previews made on threads were encoded one
        at a time and a second core sat idle. OpenCV, which makes them now (tracker.previews),
        lets go of it, but threads started once the app had loaded still measured slower than
        processes started before it (5.55-5.99 s against 5.22-5.49 s for the bench's 1,000
        photos, 3 runs by turns): held, processes work while this one loads its app, which holds
        the GIL. Each returns only the small Prepared, the bytes never cross. A store limit
        (StoreBudget) is shared state between workers: such an upload stays on threads.
        """
        method = start_method()
        if (
            (self.previews or held)
            and self._budget.limit is None
            and method in multiprocessing.get_all_start_methods()
        ):
            context = multiprocessing.get_context(method)
            if held:
                self._gate = Gate(context)
            pool = processes.pool(
                PROCESSES, context=context, initializer=_start_worker, initargs=(self._gate,)
            )
            if held:
                # An equal share each, so that a small card is not left to one of them.
                first = list(itertools.islice(self._items, HELD * PROCESSES))
                share = -(-len(first) // PROCESSES)
                for start in range(0, len(first), share):
                    self._submit(pool, share, iter(first[start : start + share]), held=True)
            return pool
        # Threads share this process: holding their writes would hold its memory too. Held,
        # they simply start with results().
        return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="ingest")

    def _submit(self, pool: Executor, size: int, items=None, *, held: bool = False) -> bool:
        chunk = list(itertools.islice(self._items if items is None else items, size))
        if not chunk:
            return False
        budget = None if isinstance(pool, ProcessPoolExecutor) else self._budget
        args = (chunk, self.media_dir, self.limits, budget, self.previews)
        self._window.append((pool.submit(_prepare_chunk, *args), len(chunk), held))
        return True


def start_method() -> str:
    """How the preparing processes start: forked from this one when it runs a single thread (a
    `tracker import`), the quickest. Where other threads run (`tracker worker --threads 2`, whose
    other job may be mid-way through anything), one of them may hold a lock at the moment of the
    fork (an HTTP connection pool, a cache, the allocator) and the child would wait on it for
    ever: there they come from a clean server process instead (0.6 s to start, once a
    card)."""
    return "fork" if threading.active_count() == 1 else "forkserver"


# In a worker process: the thread that writes its originals, the one that writes what it held
# while its gate was shut, and its preparation's gate.
_writer: ThreadPoolExecutor | None = None
_flusher: ThreadPoolExecutor | None = None
_gate: Gate | None = None


def _start_worker(gate: Gate | None) -> None:
    global _writer, _flusher, _gate
    preview_files.start_process()
    _writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="original")
    if gate is not None:
        _flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="held")
    _gate = gate


def _prepare_chunk(chunk: list[Item], media_dir, limits, budget, previews) -> list:
    """Prepare the files of one task. While the gate is shut, they are prepared in memory (up to
    HELD_BYTES), and written once it opens; if it is abandoned, nothing is written at all.

    What was held is written on a thread of its own while this one prepares the rest of the
    task: some fifty originals a process, each waiting a millisecond or more for the disk, would
    otherwise leave its core idle for a tenth of a second just as the gate opens.
    """
    held: list[tuple[str, Callable]] = []
    flushing: Future | None = None
    rest: list = []
    size = 0
    for item in chunk:
        if _gate is not None and _gate.abandoned():
            return []  # nobody waits for these
        if _gate is not None and not _gate.is_open() and size < HELD_BYTES:
            name, write, data_size = _hold_item(item, media_dir, limits, previews)
            held.append((name, write))
            size += data_size
            continue
        if held and flushing is None:
            if not _gate.wait():
                return []  # abandoned: nothing was written, and nobody waits for these
            flushing = _flusher.submit(_write_all_held, held)
        rest.append(_prepare_item(item, media_dir, limits, budget, previews))
    if flushing is not None:
        return flushing.result() + rest
    if held:  # the whole task was held
        return _write_all_held(held) if _gate.wait() else []
    return rest


def _write_all_held(held: list[tuple[str, Callable]]) -> list[Prepared | Outcome]:
    return [_write_held(name, write) for name, write in held]


def _prepare_item(
    item: Item, media_dir: str, limits: Limits, budget, previews: bool
) -> Prepared | Outcome:
    data, reason = _load(item)
    if reason is not None:
        return Outcome(photo_text.file_name(item.name)[0], "rejected", reason=reason)
    try:
        return prepare(
            item.name, data, media_dir, limits, budget, previews=previews, writer=_writer
        )
    except OSError as exc:
        return _not_stored(item.name, exc)


def _hold_item(item: Item, media_dir: str, limits: Limits, previews: bool) -> tuple:
    """(name, the function that writes it, the bytes it holds meanwhile)."""
    data, reason = item.load()  # bytes of its own, kept until the gate opens
    if reason is not None:
        outcome = Outcome(photo_text.file_name(item.name)[0], "rejected", reason=reason)
        return item.name, lambda: outcome, 0
    try:
        return item.name, hold(item.name, data, media_dir, limits, previews=previews), len(data)
    except OSError as exc:
        outcome = _not_stored(item.name, exc)
        return item.name, lambda: outcome, 0


def _write_held(name: str, write: Callable[[], Prepared | Outcome]) -> Prepared | Outcome:
    try:
        return write()
    except OSError as exc:
        return _not_stored(name, exc)


def _not_stored(name: str, exc: OSError) -> Outcome:
    name = photo_text.file_name(name)[0]
    return Outcome(name, "rejected", reason=f"could not store the file: {exc.strerror}")


def _load(item: Item) -> tuple[bytes | memoryview | None, str | None]:
    """The item's bytes; a local file is read into this thread's storage buffer.

    That buffer is reused from file to file and is what storage writes to the disk from, with
    no copy. On this project's machine a fresh bytes object per photo was the slowest part of a
    read: every page of it new memory, faulted in and zeroed. Anything unusual (a file over the
    limit, one that grows while read, an error) goes the ordinary way, for its reason.
    """
    if item.path is None or item.reason is not None:
        return item.load()
    try:
        with open(item.path, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > item.max_bytes:
                return item.load()
            view = storage.buffer(size + 1)
            got = 0
            while got <= size and (n := fh.readinto(view[got:])):
                got += n
    except OSError:
        return item.load()
    return (view[:got], None) if got <= size else item.load()
