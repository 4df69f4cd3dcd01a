"""Files -> stored images and rows, with a report of what was added, already there, or rejected.

A memory card comes back with hundreds of photos. Each one is hashed, read, checked and stored on
its own: a bad file is rejected by name with its reason and never stops the others. The database's
unique SHA-256 decides what is a duplicate, so two rangers uploading the same card at once still
add each photo exactly once.
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
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from select import select as wait_readable

from PIL import Image as PILImage
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tracker import audit, clock, db_errors, jpeg_end, photo_text, sightings, storage, upsert
from tracker import previews as preview_files
from tracker.exif import ExifData, read_exif
from tracker.models import Deployment, Image, User, utcnow
from tracker.sources import Item

BATCH_SIZE = 200
# Reading, hashing and writing release the GIL. Each worker also waits for its file to reach the
# disk (storage.write_original), so one thread more than the cores keeps both the cores and the
# disk busy while the main thread parses and inserts (measured: 2 cores, 3 threads).
WORKERS = (os.cpu_count() or 1) + 1
# With previews, a process per core instead (see _pool), given this many files a task.
PROCESSES = os.cpu_count() or 1
CHUNK = 4
# A batch that loses a race (a deadlock between two imports) runs again this many times.
RETRIES = 3
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


@dataclass
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)
    # Temporary files of killed imports, removed before this one started.
    leftovers: list[storage.Leftover] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    def of(self, status: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == status]

    @property
    def summary(self) -> dict[str, int]:
        return {s: self.count(s) for s in ("added", "duplicate", "rejected")}


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


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _extras(metadata: ExifData) -> dict:
    """What the camera wrote beyond the columns: kept for the record and later features."""
    notes = metadata.makernotes
    extras = {
        "subsec": metadata.subsec,
        "time_source": metadata.time_source,
        "time_problem": metadata.time_problem,
        "gps_problem": metadata.gps_problem,
        "makernotes": {k: _jsonable(v) for k, v in asdict(notes).items()} if notes else None,
    }
    return {k: v for k, v in extras.items() if v is not None}


def image_row(item: Prepared, deployment: Deployment, period, user_id: int | None) -> dict:
    """The image table row for one prepared file: corrected time, place, and flags."""
    meta = item.exif
    when = (meta.taken_at, meta.utc_offset, deployment.timezone, deployment.clock_offset_s)
    utc = clock.corrected_utc(*when)
    problem = meta.time_problem or clock.wall_time_problem(*when)
    has_gps = meta.latitude is not None and meta.longitude is not None
    return {
        "sha256": item.sha256,
        "stored_path": item.stored_path,
        "original_filename": item.name,
        "bytes": item.size,
        "width": meta.width,
        "height": meta.height,
        "taken_at_raw": meta.taken_at_raw,
        "utc_offset": meta.utc_offset,
        "taken_at_utc": utc,
        "timestamp_issue": clock.timestamp_issue(utc, period, problem),
        "latitude": meta.latitude if has_gps else None,
        "longitude": meta.longitude if has_gps else None,
        "altitude": meta.altitude,
        "location_source": "exif" if has_gps else "station",
        "camera_make": meta.make,
        "camera_model": meta.model,
        "camera_serial": meta.serial or (meta.makernotes and meta.makernotes.serial) or None,
        "exif": _extras(meta),
        "tags": list(meta.tags),
        "deployment_id": deployment.id,
        "uploaded_by_id": user_id,
        "uploaded_at": utcnow(),
    }


def _insert_new(session: Session, rows: list[dict]) -> dict[str, int]:
    """Insert rows whose SHA-256 is new; the unique index, not a prior check, decides."""
    table = Image.__table__
    return dict(upsert.insert_new(session, table, rows, ["sha256"], table.c.sha256, table.c.id))


def _existing_ids(session: Session, hashes: Iterable[str]) -> dict[str, int]:
    query = select(Image.sha256, Image.id).where(Image.sha256.in_(list(hashes)))
    return dict(session.execute(query).all())


def _save_batch(session, batch: list[Prepared], save_rows) -> list[Outcome]:
    """Commit a batch's rows; if the database refuses them, each photo alone.

    The values are checked before (tracker.photo_text); this is the net under that check, so
    that whatever a database still refuses costs one photo, never its neighbours. A batch
    that lost a race with another import (a deadlock) simply runs again.
    """
    for attempt in range(RETRIES):
        try:
            return save_rows(batch)
        except DBAPIError as exc:
            session.rollback()
            if db_errors.unavailable(exc):
                raise
            if not db_errors.retryable(exc) or attempt == RETRIES - 1:
                log.warning("saving %d photos one by one: %s", len(batch), db_errors.reason(exc))
                break
    return [_save_alone(session, item, save_rows) for item in batch]


def _save_alone(session, item: Prepared, save_rows) -> Outcome:
    for attempt in range(RETRIES):
        try:
            return save_rows([item])[0]
        except DBAPIError as exc:
            session.rollback()
            if db_errors.unavailable(exc):
                raise
            if not db_errors.retryable(exc) or attempt == RETRIES - 1:
                reason = f"the database refused it: {db_errors.reason(exc)}"
                return Outcome(item.name, "rejected", reason=reason)
    raise AssertionError("unreachable")  # pragma: no cover


def _save_rows(
    session, batch: list[Prepared], deployment, period, user, tag_rules, before_commit=None
) -> list[Outcome]:
    first: dict[str, Prepared] = {}
    for item in batch:
        first.setdefault(item.sha256, item)
    user_id = user.id if user is not None else None
    rows = [image_row(item, deployment, period, user_id) for item in first.values()]
    added = _insert_new(session, rows)
    tag_warnings: dict[int, list[str]] = {}
    if tag_rules is not None:
        _sightings_from_tags(session, first, added, tag_rules, user, tag_warnings)
    known = _existing_ids(session, set(first) - set(added))
    outcomes = []
    for item in batch:
        if added.get(item.sha256) and first[item.sha256] is item:
            image_id = added[item.sha256]
            warnings = item.warnings + tuple(tag_warnings.get(image_id, ()))
            outcomes.append(Outcome(item.name, "added", image_id, warnings=warnings))
        else:
            image_id = added.get(item.sha256) or known.get(item.sha256)
            outcomes.append(Outcome(item.name, "duplicate", image_id, "already in the tracker"))
    if before_commit is not None:
        before_commit(outcomes)  # e.g. an upload's record of its files, with their rows
    session.commit()
    return outcomes


def _sightings_from_tags(session, first, added: dict[str, int], rules, user, warnings) -> None:
    """Sightings for the new images that photo-ID tags already describe (same transaction).

    A tag that cannot be used is said in `warnings` (image id -> messages).
    """
    tagged = [added[sha] for sha, item in first.items() if sha in added and item.exif.tags]
    if tagged:
        images = list(session.scalars(select(Image).where(Image.id.in_(tagged))))

        def warn(image: Image, message: str) -> None:
            warnings.setdefault(image.id, []).append(message)

        sightings.from_tags(session, images, rules, user, warn=warn)


class _Batches:
    """Rows go in one batch behind their files.

    A batch's files are synced to disk on a background thread while the next batch is read and
    written; its rows are inserted and committed only once that sync is done. So every row
    points to a file already safe on disk, and the disk flush costs no waiting.
    """

    def __init__(
        self, save: Callable[[list[Prepared]], list[Outcome]], sync: Callable[[], None], syncer
    ) -> None:
        self.save, self.sync, self.syncer = save, sync, syncer
        self.filling: list[Prepared] = []
        self.syncing: tuple[list[Prepared], Future] | None = None

    def add(self, item: Prepared) -> list[Outcome]:
        self.filling.append(item)
        return self._rotate() if len(self.filling) >= BATCH_SIZE else []

    def finish(self) -> list[Outcome]:
        return (self._rotate() if self.filling else []) + self._commit_synced()

    def _rotate(self) -> list[Outcome]:
        outcomes = self._commit_synced()
        self.syncing = (self.filling, self.syncer.submit(self.sync))
        self.filling = []
        return outcomes

    def _commit_synced(self) -> list[Outcome]:
        if self.syncing is None:
            return []
        batch, synced = self.syncing
        self.syncing = None
        synced.result()
        return self.save(batch)


def ingest(
    session: Session,
    items: Iterable[Item],
    deployment: Deployment,
    media_dir: str,
    *,
    user: User | None = None,
    limits: Limits | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
    tag_rules: sightings.TagRules | None = None,
    before_commit: Callable[[list[Outcome]], None] | None = None,
    on_rejected: Callable[[Outcome], None] | None = None,
    previews: bool = False,
) -> IngestReport:
    """Store and record every good file; commit in batches; report each file's fate.

    With `tag_rules`, images whose XMP keywords name a species or an individual get their
    sightings at once, in the same transaction as their rows. Temporary files that killed
    imports left in the media folder are removed first, and listed in the report.

    `before_commit` sees each batch's outcomes just before they commit (a batch the database
    refuses is saved again, one photo at a time, and each try is seen), `on_rejected` each
    rejected file, refused on reading or by the database. What `on_rejected` adds to the session
    commits with the next batch; a batch's rollback would drop it, so it is told again then.
    With `previews`, each new photo's preview and thumbnail are made from the bytes already in
    memory, before its row commits: the card is browsable when the import ends.
    """
    limits = limits or Limits()
    report = IngestReport(leftovers=storage.remove_leftovers(media_dir))
    period = clock.period_utc(deployment)
    budget = StoreBudget(limits.max_stored_bytes)

    # Rejected files told to on_rejected since the last commit, and whether a rollback dropped
    # what it added for them.
    unsaved: list[Outcome] = []
    dropped = False

    def refused(outcome: Outcome) -> None:
        if on_rejected is not None:
            on_rejected(outcome)
            unsaved.append(outcome)

    def tell_again() -> None:
        nonlocal dropped
        if dropped:
            dropped = False
            for outcome in unsaved:
                on_rejected(outcome)

    def done(outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            report.outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)

    def after_save(outcomes: list[Outcome]) -> None:
        tell_again()
        for outcome in outcomes:
            if outcome.status == "rejected":  # the database refused it (_save_alone): no row
                refused(outcome)
        done(outcomes)

    def save_rows(batch: list[Prepared]) -> list[Outcome]:
        nonlocal dropped
        tell_again()
        try:
            outcomes = _save_rows(
                session, batch, deployment, period, user, tag_rules, before_commit
            )
        except DBAPIError:
            dropped = True  # _save_batch rolls back, and tries again
            raise
        unsaved.clear()
        return outcomes

    def save(batch: list[Prepared]) -> list[Outcome]:
        return _save_batch(session, batch, save_rows)

    with (
        storage.media_sync(media_dir) as sync,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync") as syncer,
    ):
        batches = _Batches(save, sync, syncer)
        for result in _prepared(items, media_dir, limits, budget, previews):
            if isinstance(result, Outcome):
                refused(result)
                done([result])
            else:
                after_save(batches.add(result))
        after_save(batches.finish())
    audit.record(session, user, "upload", "deployment", deployment.id, **report.summary)
    session.commit()
    return report


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


def _start_worker(parent: int) -> None:
    global _writer
    _exit_with(parent)
    _writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="original")


def _exit_with(parent: int) -> None:
    """End this preparing process when the worker that asked for it dies.

    A worker killed with SIGKILL cannot close its pool, and its preparing processes would wait
    on their task queue for ever (each holds the queue's pipe open for the other), each keeping
    the card's file and its memory. A forkserver's children outlive it too: each holds the pipe
    the server watches for its client's end. A thread waits on the worker's pidfd instead.
    """
    try:
        watched = os.pidfd_open(parent)
    except ProcessLookupError:  # it died before we got here
        os._exit(1)
    except (AttributeError, OSError):  # not Linux 5.3 or later: left to the pool's own checks
        return

    def wait() -> None:
        wait_readable([watched], [], [])
        os._exit(1)

    threading.Thread(target=wait, name="exit-with-worker", daemon=True).start()


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
        return ProcessPoolExecutor(
            PROCESSES, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
        )
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


def _prepared(
    items: Iterable[Item], media_dir: str, limits: Limits, budget, previews: bool
) -> Iterator:
    """Prepare items on workers, in order, with a bounded number in flight."""
    window: deque[Future] = deque()
    with _pool(budget, previews) as pool:
        processes = isinstance(pool, ProcessPoolExecutor)
        shared = None if processes else budget
        # A process gets a few files a task: each task crosses two pipes and two threads.
        size = CHUNK if processes else 1
        items = iter(items)
        while chunk := list(itertools.islice(items, size)):
            window.append(pool.submit(_prepare_chunk, chunk, media_dir, limits, shared, previews))
            # A deep window keeps the workers writing while the main thread syncs and inserts.
            if len(window) * size >= 16 * WORKERS:
                yield from window.popleft().result()
        while window:
            yield from window.popleft().result()
