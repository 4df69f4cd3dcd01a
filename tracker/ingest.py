"""Files -> stored images and rows, with a report of what was added, already there, or rejected.

A memory card comes back with hundreds of photos. Each one is hashed, read, checked and stored on
its own: a bad file is rejected by name with its reason and never stops the others. The database's
unique SHA-256 decides what is a duplicate, so two rangers uploading the same card at once still
add each photo exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from tracker import audit, clock, db_errors, preparing, sightings, storage, upsert
from tracker.exif import ExifData
from tracker.models import Deployment, Image, User, utcnow
from tracker.preparation import Preparation
from tracker.preparing import Limits, Outcome, Prepared
from tracker.sources import Item

BATCH_SIZE = 200
# A batch that loses a race (a deadlock between two imports) runs again this many times.
RETRIES = 3
log = logging.getLogger(__name__)


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


def _jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _extras(metadata: ExifData, damage: str | None = None) -> dict:
    """What the camera wrote beyond the columns, and what making the previews found wrong with
    the image data (the image page shows it): kept for the record and later features."""
    notes = metadata.makernotes
    extras = {
        "subsec": metadata.subsec,
        "time_source": metadata.time_source,
        "time_problem": metadata.time_problem,
        "gps_problem": metadata.gps_problem,
        "makernotes": {k: _jsonable(v) for k, v in asdict(notes).items()} if notes else None,
        "image_damage": damage,
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
        "exif": _extras(meta, item.damage),
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
        if len(self.filling) >= BATCH_SIZE:
            return self._rotate()
        if self.syncing is not None and self.syncing[1].done():
            # Its files are safe: its rows commit now, while the workers still prepare, rather
            # than with the next batch. At a card's end only the last batch is left to commit.
            return self._commit_synced()
        return []

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
    items: Iterable[Item] | Preparation,
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
    memory, before its row commits: the card is browsable when the import ends. `items` may be
    a Preparation of them already started (held, before this deployment was checked): it
    starts writing now, after the leftovers are gone.
    """
    limits = limits or Limits()
    report = IngestReport(leftovers=storage.remove_leftovers(media_dir))
    period = clock.period_utc(deployment)
    budget = preparing.StoreBudget(limits.max_stored_bytes)
    if isinstance(items, Preparation):
        started = (items.media_dir, items.limits, items.previews)
        if started != (media_dir, limits, previews):
            raise ValueError(f"a preparation started for {started} given to an import into "
                             f"{(media_dir, limits, previews)}")  # fmt: skip

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
        if not isinstance(items, Preparation):
            items = Preparation(items, media_dir, limits, budget, previews)
        for result in items.results():
            if isinstance(result, Outcome):
                refused(result)
                done([result])
            else:
                after_save(batches.add(result))
        after_save(batches.finish())
    audit.record(session, user, "upload", "deployment", deployment.id, **report.summary)
    session.commit()
    return report
