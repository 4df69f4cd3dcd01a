"""Files -> stored images and rows, with a report of what was added, already there, or rejected.

A memory card comes back with hundreds of photos. Each one is hashed, read, checked and stored on
its own: a bad file is rejected by name with its reason and never stops the others. The database's
unique SHA-256 decides what is a duplicate, so two rangers uploading the same card at once still
add each photo exactly once.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import audit, clock, sightings, storage
from tracker.exif import ExifData, read_exif
from tracker.models import Deployment, Image, User, utcnow
from tracker.sources import Item

BATCH_SIZE = 200
# Reading, hashing and writing release the GIL. Each worker also waits for its file to reach the
# disk (storage.write_original), so one thread more than the cores keeps both the cores and the
# disk busy while the main thread parses and inserts (measured: 2 cores, 3 threads).
WORKERS = (os.cpu_count() or 1) + 1


@dataclass(frozen=True)
class Outcome:
    """What happened to one file: added, duplicate (already present) or rejected."""

    name: str
    status: str
    image_id: int | None = None
    reason: str | None = None


@dataclass
class IngestReport:
    outcomes: list[Outcome] = field(default_factory=list)

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


@dataclass(frozen=True)
class Limits:
    """What one image may be. Oversized or bomb-like files are rejected, never decoded."""

    max_file_bytes: int = 100 * 1024 * 1024
    max_pixels: int = 120_000_000


def end_of_image_missing(data: bytes | memoryview) -> bool:
    """True when the main image's scan has no end marker: a file cut short on the card."""
    view = memoryview(data)
    pos = 2
    while pos + 4 <= len(view):
        if view[pos] != 0xFF:
            return True
        marker = view[pos + 1]
        if marker == 0xDA:  # start of scan: the compressed image follows
            return not _has_end_marker(view, pos)
        if marker == 0xFF or 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 1 if marker == 0xFF else 2
            continue
        pos += 2 + int.from_bytes(view[pos + 2 : pos + 4], "big")
    return True


def _has_end_marker(view: memoryview, start: int, chunk: int = 1 << 16) -> bool:
    """An end-of-image marker after `start`, looked for from the end (where it nearly always is).

    The file is searched a slice at a time, so a large file is never copied whole.
    """
    end = len(view)
    while end - start >= 2:
        low = max(start, end - chunk)
        if bytes(view[low:end]).rfind(b"\xff\xd9") != -1:
            return True
        end = low + 1  # the slices overlap by a byte: a marker may straddle two of them
    return False


def prepare(
    name: str, data: bytes | memoryview, media_dir: str, limits: Limits
) -> Prepared | Outcome:
    """Hash, read and check one file, and store it; or say why it is rejected.

    `data` may be a view of a reused buffer: everything is read from those same bytes (what is
    hashed is what is stored) and nothing keeps a reference to them afterwards.
    """
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
    if end_of_image_missing(data):
        return Outcome(name, "rejected", reason="truncated JPEG (the image data is cut short)")
    sha256 = hashlib.sha256(data).hexdigest()
    # Sent to the disk now but not synced: the whole batch is synced once, before its rows commit.
    stored = storage.store_original(media_dir, sha256, data, sync=False)
    return Prepared(name, sha256, len(data), stored, metadata)


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


def _clip(text: str | None, size: int = 64) -> str | None:
    return text[:size] if text else None


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
        "original_filename": item.name[-255:],
        "bytes": item.size,
        "width": meta.width,
        "height": meta.height,
        "taken_at_raw": _clip(meta.taken_at_raw, 32),
        "utc_offset": meta.utc_offset,
        "taken_at_utc": utc,
        "timestamp_issue": clock.timestamp_issue(utc, period, problem),
        "latitude": meta.latitude if has_gps else None,
        "longitude": meta.longitude if has_gps else None,
        "altitude": meta.altitude,
        "location_source": "exif" if has_gps else "station",
        "camera_make": _clip(meta.make),
        "camera_model": _clip(meta.model),
        "camera_serial": _clip(meta.serial or (meta.makernotes and meta.makernotes.serial)),
        "exif": _extras(meta),
        "tags": list(meta.tags),
        "deployment_id": deployment.id,
        "uploaded_by_id": user_id,
        "uploaded_at": utcnow(),
    }


def _insert_new(session: Session, rows: list[dict]) -> dict[str, int]:
    """Insert rows whose SHA-256 is new; the unique index, not a prior check, decides."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = Image.__table__
    statement = (
        insert(table)
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(table.c.sha256, table.c.id)
    )
    return dict(session.execute(statement, rows).all())


def _existing_ids(session: Session, hashes: Iterable[str]) -> dict[str, int]:
    query = select(Image.sha256, Image.id).where(Image.sha256.in_(list(hashes)))
    return dict(session.execute(query).all())


def _save_batch(
    session, batch: list[Prepared], deployment, period, user, tag_rules
) -> list[Outcome]:
    first: dict[str, Prepared] = {}
    for item in batch:
        first.setdefault(item.sha256, item)
    user_id = user.id if user is not None else None
    rows = [image_row(item, deployment, period, user_id) for item in first.values()]
    added = _insert_new(session, rows)
    if tag_rules is not None:
        _sightings_from_tags(session, first, added, tag_rules, user)
    session.commit()
    known = _existing_ids(session, set(first) - set(added))
    outcomes = []
    for item in batch:
        if added.get(item.sha256) and first[item.sha256] is item:
            outcomes.append(Outcome(item.name, "added", added[item.sha256]))
        else:
            image_id = added.get(item.sha256) or known.get(item.sha256)
            outcomes.append(Outcome(item.name, "duplicate", image_id, "already in the tracker"))
    return outcomes


def _sightings_from_tags(session, first: dict[str, Prepared], added: dict[str, int], rules, user):
    """Sightings for the new images that photo-ID tags already describe (same transaction)."""
    tagged = [added[sha] for sha, item in first.items() if sha in added and item.exif.tags]
    if tagged:
        images = list(session.scalars(select(Image).where(Image.id.in_(tagged))))
        sightings.from_tags(session, images, rules, user)


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
) -> IngestReport:
    """Store and record every good file; commit in batches; report each file's fate.

    With `tag_rules`, images whose XMP keywords name a species or an individual get their
    sightings at once, in the same transaction as their rows.
    """
    limits = limits or Limits()
    report = IngestReport()
    period = clock.period_utc(deployment)

    def done(outcomes: Iterable[Outcome]) -> None:
        for outcome in outcomes:
            report.outcomes.append(outcome)
            if on_outcome:
                on_outcome(outcome)

    def save(batch: list[Prepared]) -> list[Outcome]:
        return _save_batch(session, batch, deployment, period, user, tag_rules)

    with (
        storage.media_sync(media_dir) as sync,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="sync") as syncer,
    ):
        batches = _Batches(save, sync, syncer)
        for result in _prepared(items, media_dir, limits):
            done([result] if isinstance(result, Outcome) else batches.add(result))
        done(batches.finish())
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


def _prepare_item(item: Item, media_dir: str, limits: Limits) -> Prepared | Outcome:
    data, reason = _load(item)
    if reason is not None:
        return Outcome(item.name, "rejected", reason=reason)
    try:
        return prepare(item.name, data, media_dir, limits)
    except OSError as exc:
        return Outcome(item.name, "rejected", reason=f"could not store the file: {exc.strerror}")


def _prepared(items: Iterable[Item], media_dir: str, limits: Limits) -> Iterator:
    """Prepare items on worker threads, in order, with a bounded number in flight."""
    window: deque[Future] = deque()
    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="ingest") as pool:
        for item in items:
            window.append(pool.submit(_prepare_item, item, media_dir, limits))
            # A deep window keeps the workers writing while the main thread syncs and inserts.
            if len(window) >= 16 * WORKERS:
                yield window.popleft().result()
        while window:
            yield window.popleft().result()
