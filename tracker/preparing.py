"""One photo's file made ready for its row: checked, hashed, its metadata read, its original
stored and, where asked, its previews made; a card's files over a pool, in order.

Nothing here touches the database: tracker.ingest saves what comes out. A bad file comes out as a
rejected Outcome with its reason and never stops the others. With previews, the files are
prepared on a process per core (Pillow holds the GIL while it encodes), forked or started from a
clean server (start_method); each process writes its originals on a thread of its own and dies
with the worker that asked for it.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import dataclass

from PIL import Image as PILImage

from tracker import jpeg_end, photo_text, processes, storage
from tracker import previews as preview_files
from tracker.exif import ExifData, read_exif
from tracker.sources import Item

# Reading, hashing and writing release the GIL. Each worker also waits for its file to reach the
# disk (storage.write_original), so one thread more than the cores keeps both the cores and the
# disk busy while the main thread parses and inserts (measured: 2 cores, 3 threads).
WORKERS = (os.cpu_count() or 1) + 1
# With previews, a process per core instead (see _pool), given this many files a task.
PROCESSES = os.cpu_count() or 1
CHUNK = 4
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: added, duplicate (already present) or rejected.

    `warnings` name what was left out of a photo that landed: a value its column cannot hold,
    a tag that was not used, data after the end of the image.
    """

    name: str
    status: str
    image_id: int | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Prepared:
    name: str
    sha256: str
    size: int
    stored_path: str
    exif: ExifData
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """What one image may be. Oversized or bomb-like files are rejected, never decoded."""

    max_file_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 120_000_000
    # Data after the image's end beyond this is left out (a camera's own preview fits in it).
    max_trailing_bytes: int = 1024 * 1024
    # What one upload may store in all (TRACKER_MAX_STORED_MB); None: no limit.
    max_stored_bytes: int | None = None


class StoreBudget:
    """The bytes an upload may still store (Limits.max_stored_bytes), shared by the workers."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.left = limit, limit
        self._lock = threading.Lock()

    def take(self, size: int) -> bool:
        if self.left is None:
            return True
        with self._lock:
            if size > self.left:
                return False
            self.left -= size
            return True


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def prepare(
    name: str,
    data: bytes | memoryview,
    media_dir: str,
    limits: Limits,
    budget: StoreBudget | None = None,
    *,
    previews: bool = False,
) -> Prepared | Outcome:
    """Hash, read and check one file, and store it; or say why it is rejected.

    `data` may be a view of a reused buffer: everything is read from those same bytes (what is
    hashed is what is stored) and nothing keeps a reference to them afterwards. Every value
    read from the file, and its name, is made fit for the database here (tracker.photo_text).
    """
    name, warnings = photo_text.file_name(name)
    data = memoryview(data)
    if len(data) > limits.max_file_bytes:
        mb = limits.max_file_bytes // (1024 * 1024)
        return Outcome(name, "rejected", reason=f"file larger than {mb} MB")
    metadata = read_exif(io.BufferedReader(storage.MemoryFile(data)))
    if metadata.error:
        return Outcome(name, "rejected", reason=metadata.error)
    if metadata.width and metadata.height and metadata.width * metadata.height > limits.max_pixels:
        pixels = metadata.width * metadata.height / 1e6
        return Outcome(name, "rejected", reason=f"image too large ({pixels:.0f} megapixels)")
    end = jpeg_end.kept_length(data, limits.max_trailing_bytes)
    if end is None:
        return Outcome(name, "rejected", reason="truncated JPEG (the image data is cut short)")
    if end < len(data):
        warnings.append(f"{_mb(len(data) - end)} after the end of the image left out")
        data = data[:end]
    metadata, problems = photo_text.checked_exif(metadata)
    warnings += problems
    if budget is not None and not budget.take(len(data)):
        return Outcome(name, "rejected", reason=(
            f"this upload already stored its limit of {_mb(budget.limit)}; "
            "not stored (upload the rest separately)"
        ))  # fmt: skip
    sha256 = hashlib.sha256(data).hexdigest()
    stored = storage.original_relpath(sha256)
    # A photo whose original was not stored whole has no previews worth keeping either (made
    # from it, and not synced either if a crash cut its write short): they are made again.
    new = not storage.has_original(media_dir, sha256, len(data))
    # Sent to the disk now but not synced: the whole batch is synced once, before its rows commit.
    if previews and new and _writer is not None:
        # A worker process: the original's direct write waits for the disk (~1 ms a photo) on
        # the writer thread, while this one decodes and encodes the previews from the same bytes.
        writing = _writer.submit(storage.put_original, media_dir, sha256, data, sync=False)
        try:
            _previews_from_memory(media_dir, sha256, data, new)
        finally:
            wait([writing])  # `data` is a reused buffer: never left to a write still running
        writing.result()
    else:
        if new:
            storage.put_original(media_dir, sha256, data, sync=False)
        if previews:
            _previews_from_memory(media_dir, sha256, data, new)
    return Prepared(name, sha256, len(data), stored, metadata, tuple(warnings))


def _previews_from_memory(media_dir: str, sha256: str, data: memoryview, new: bool) -> None:
    """Make the photo's previews now, from its bytes in memory, unless an original stored
    earlier already has them; a failure only means they are made later, on first view
    (previews.preview_path)."""
    if new or not preview_files.has_previews(media_dir, sha256):
        with contextlib.suppress(OSError, ValueError, PILImage.DecompressionBombError):
            preview_files.make_previews(media_dir, sha256, data)


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


def _prepare_item(
    item: Item, media_dir: str, limits: Limits, budget, previews: bool
) -> Prepared | Outcome:
    data, reason = _load(item)
    if reason is not None:
        return Outcome(photo_text.file_name(item.name)[0], "rejected", reason=reason)
    try:
        return prepare(item.name, data, media_dir, limits, budget, previews=previews)
    except OSError as exc:
        name = photo_text.file_name(item.name)[0]
        return Outcome(name, "rejected", reason=f"could not store the file: {exc.strerror}")


# In a worker process (_pool), the thread that writes its originals.
_writer: ThreadPoolExecutor | None = None


def _start_worker() -> None:
    global _writer
    _writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="original")


def _pool(budget: StoreBudget, previews: bool) -> Executor:
    """Where files are prepared: threads, or with previews a process per core.

    Pillow holds the GIL while it encodes a JPEG (py-spy --gil: 42 % of the time the GIL was held
    during a card's import with previews), so previews made on threads are encoded one at a time
    and a second core sits idle. Processes forked from this one, as make_missing's are, encode on
    every core; each returns only the small Prepared, the bytes never cross. A store limit
    (StoreBudget) is shared state between workers: such an upload stays on threads.
    """
    method = start_method()
    if previews and budget.limit is None and method in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context(method)
        # Each ends with the process that asked for it (tracker.processes), killed or not.
        return processes.pool(PROCESSES, context=context, initializer=_start_worker)
    return ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="ingest")


def start_method() -> str:
    """How the preparing processes start: forked from this one when it runs a single thread (a
    `tracker import`), the quickest. Where other threads run (`tracker worker --threads 2`, whose
    other job may be mid-way through anything), one of them may hold a lock at the moment of the
    fork (an HTTP connection pool, a cache, the allocator) and the child would wait on it for
    ever: there they come from a clean server process instead (0.6 s to start, once a
    card)."""
    return "fork" if threading.active_count() == 1 else "forkserver"


def _prepare_chunk(chunk: list[Item], *args) -> list[Prepared | Outcome]:
    return [_prepare_item(item, *args) for item in chunk]


def prepared(
    items: Iterable[Item], media_dir: str, limits: Limits, budget, previews: bool
) -> Iterator:
    """Prepare items on workers, in order, with a bounded number in flight."""
    window: deque[Future] = deque()
    with _pool(budget, previews) as pool:
        in_processes = isinstance(pool, ProcessPoolExecutor)
        shared = None if in_processes else budget
        # A process gets a few files a task: each task crosses two pipes and two threads.
        size = CHUNK if in_processes else 1
        items = iter(items)
        while chunk := list(itertools.islice(items, size)):
            window.append(pool.submit(_prepare_chunk, chunk, media_dir, limits, shared, previews))
            # A deep window keeps the workers writing while the main thread syncs and inserts.
            if len(window) * size >= 16 * WORKERS:
                yield from window.popleft().result()
        while window:
            yield from window.popleft().result()
