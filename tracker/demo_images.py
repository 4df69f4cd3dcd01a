"""`tracker demo --images N`: image rows without files, for benchmarks and tests at season size.

A real season is about a million photos, most of them untagged or blank. The rows are spread over
the deployments the way cards come in: each sighting gets a short burst of photos at its time
(blank sightings' photos are the blank frames), and the rest are photos nobody has looked at yet,
spread over the days each camera ran. About one in a hundred untagged photos has a timestamp
issue (no time in the file, or a reset clock). The files themselves are never written: previews
of these rows answer "not found", which is what a benchmark of the pages wants.

Rows are inserted per deployment in capture order with ids assigned here, in batches through
Core executemany, in the caller's transaction: memory stays flat and a million rows load in a
few minutes on SQLite.

On PostgreSQL the per-row triggers that keep the counts (image_added, image_links_added) would
rewrite one image_count row per photo: a million versions of a few hundred rows, hours of work.
There the loader writes each photo's link counts itself, switches those two triggers off inside
its transaction (ALTER TABLE is transactional there, and other sessions wait on its lock), and
recounts the deployments it filled in one GROUP BY before switching them on again. SQLite's
triggers are cheap enough to keep.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from tracker import clock
from tracker.models import IMAGE_STATUSES, Deployment, Image, Sighting, Species, sighting_image

BATCH = 10_000
# Share of the photos that belong to a sighting; the rest wait untagged (blank sightings' photos
# come on top), so that about 70 % are untagged or blank, as in a real season.
LINKED_SHARE = 0.4
MAX_BURST = 3
ISSUE_SHARE = 0.01
RESET_CLOCK = "2000:01:01 00:00:00"
# image_count's columns and what each counts (as the migration's triggers count them).
COUNTED = {
    "timestamp_issues" if status == "timestamp" else status: condition
    for status, condition in IMAGE_STATUSES.items()
}


@dataclass(frozen=True)
class Card:
    """What a deployment's photos need: its id, period in UTC and camera clock."""

    id: int
    start: datetime
    end: datetime
    shift: timedelta  # camera clock = UTC + shift
    serial: str | None


def add_images(session: Session, count: int, seed: int, last_day_end: datetime) -> int:
    """Insert `count` image rows (and their sighting links) over the existing deployments.

    `last_day_end` closes the period of active deployments. Flushes; the caller commits.
    """
    rng = random.Random(seed)
    cards = _cards(session, last_day_end)
    if count == 0 or not cards:
        return 0
    per_sighting = min(MAX_BURST, LINKED_SHARE * count / max(_timed_sightings(session), 1))
    bursts = _bursts(_sightings_by_card(session), per_sighting, count, rng)
    untagged = _untagged_share(cards, count - sum(len(b) for b in bursts.values()), rng)
    next_id = (session.scalar(select(func.max(Image.id))) or 0) + 1
    blank = _blank_sightings(session)
    bulk = session.get_bind().dialect.name == "postgresql"
    if bulk:
        _count_triggers(session, "DISABLE")
    for card in cards:
        photos = bursts.get(card.id, []) + _untagged(card, untagged[card.id], rng)
        photos.sort(key=lambda p: p[0])
        next_id = _insert(session, card, photos, next_id, blank)
    if bulk:
        _recount(session, [card.id for card in cards])
        _count_triggers(session, "ENABLE")
    _restart_sequence(session)
    session.flush()
    return count


def _cards(session: Session, last_day_end: datetime) -> list[Card]:
    cards = []
    for d in session.scalars(select(Deployment).order_by(Deployment.id)):
        start, end = clock.period_utc(d)
        shift = timedelta(seconds=-d.clock_offset_s)
        local = start.astimezone(ZoneInfo(d.timezone)).utcoffset() or timedelta()
        serial = d.camera.serial if d.camera else None
        end = min(end or last_day_end, last_day_end)
        cards.append(Card(d.id, start, end, local + shift, serial))
    return cards


def _sightings_by_card(session: Session) -> dict[int, list[tuple]]:
    """(id, start, end) of every timed sighting, per deployment."""
    query = (
        select(Sighting.deployment_id, Sighting.id, Sighting.event_start, Sighting.event_end)
        .where(Sighting.event_start.is_not(None))
        .order_by(Sighting.id)
    )
    found = defaultdict(list)
    for deployment_id, *row in session.execute(query):
        found[deployment_id].append(tuple(row))
    return found


def _blank_sightings(session: Session) -> set[int]:
    """Ids of the sightings that record a blank frame (their photos count as blank)."""
    query = select(Sighting.id).join(Species, Species.id == Sighting.species_id)
    return set(session.scalars(query.where(Species.kind == "blank")))


def _timed_sightings(session: Session) -> int:
    return session.scalar(select(func.count()).where(Sighting.event_start.is_not(None))) or 0


def _bursts(sightings, per_sighting: float, count: int, rng) -> dict[int, list[tuple]]:
    """(utc, sighting id, None) per photo of each card's sightings, `count` at most in all."""
    bursts, left = {}, count
    for card_id, rows in sightings.items():
        photos = []
        for sighting_id, start, end in rows:
            for k in range(min(left, _burst(per_sighting, rng))):
                photos.append((min(start + timedelta(seconds=2 * k), end), sighting_id, None))
                left -= 1
        bursts[card_id] = photos
    return bursts


def _burst(per_sighting: float, rng) -> int:
    """1 to MAX_BURST photos averaging per_sighting, or none when photos are scarce."""
    whole = int(per_sighting)
    return whole + (rng.random() < per_sighting - whole)


def _untagged_share(cards: list[Card], rest: int, rng) -> dict[int, int]:
    """How many untagged photos each deployment gets: in proportion to how long it ran."""
    days = [max(1.0, (c.end - c.start).total_seconds() / 86_400) for c in cards]
    total = sum(days)
    share = {c.id: int(rest * d / total) for c, d in zip(cards, days, strict=True)}
    for c in rng.sample(cards, rest - sum(share.values())):
        share[c.id] += 1
    return share


def _untagged(card: Card, count: int, rng) -> list[tuple]:
    """(utc, None, issue) of photos nobody has tagged, over the days the camera ran."""
    span = max(1, int((card.end - card.start).total_seconds()) - 1)
    photos = []
    for _ in range(count):
        issue = None
        if rng.random() < ISSUE_SHARE:
            issue = rng.choice(("no capture time in the file", RESET_CLOCK))
        photos.append((card.start + timedelta(seconds=rng.randrange(span)), None, issue))
    return photos


def _insert(
    session: Session, card: Card, photos: list[tuple], next_id: int, blank: set[int]
) -> int:
    rows, links = _rows(card, photos, next_id, blank)
    for batch in _batches(rows):
        session.execute(insert(Image.__table__), batch)
    for batch in _batches(links):
        session.execute(insert(sighting_image), batch)
    return next_id + len(rows)


def _rows(
    card: Card, photos: list[tuple], first_id: int, blank: set[int]
) -> tuple[list[dict], list[dict]]:
    rows, links = [], []
    for n, (utc, sighting_id, issue) in enumerate(photos):
        image_id = first_id + n
        raw = (utc + card.shift).strftime("%Y:%m:%d %H:%M:%S")
        if issue == RESET_CLOCK:  # what a camera writes after losing its clock, corrected
            utc = datetime(2000, 1, 1, tzinfo=UTC) - card.shift
            raw, issue = RESET_CLOCK, "capture time outside the deployment period"
        elif issue is not None:
            raw, utc = None, None
        row = _row(card, image_id, utc, raw, issue)
        # What the link triggers would set: each demo photo belongs to one sighting at most.
        row["sighting_count"] = int(sighting_id is not None)
        row["blank_count"] = int(sighting_id in blank)
        rows.append(row)
        if sighting_id is not None:
            links.append({"sighting_id": sighting_id, "image_id": image_id})
    return rows, links


def _row(card: Card, image_id: int, utc, raw, issue) -> dict:
    sha = f"{card.id:08x}{image_id:056x}"
    uploaded = (utc or card.start) + timedelta(days=7)
    return {
        "id": image_id,
        "sha256": sha,
        "stored_path": f"demo/{sha[:2]}/{sha}.jpg",
        "original_filename": f"DCIM/100RECNX/IMG_{image_id % 10_000:04d}.JPG",
        "bytes": 600_000,
        "width": 2048,
        "height": 1536,
        "taken_at_raw": raw,
        "utc_offset": None,
        "taken_at_utc": utc,
        "timestamp_issue": issue,
        "location_source": "station",
        "camera_make": "RECONYX",
        "camera_model": "HyperFire 2",
        "camera_serial": card.serial,
        "exif": {},
        "tags": [],
        "deployment_id": card.id,
        "uploaded_by_id": None,
        "uploaded_at": max(uploaded, card.start),
    }


def _batches(rows: list[dict]) -> Iterator[list[dict]]:
    it = iter(rows)
    while batch := list(islice(it, BATCH)):
        yield batch


# The triggers that keep image_count per photo (migration 15fd2d2212a6); the others stay on.
COUNT_TRIGGERS = (("image", "image_added"), ("sighting_image", "image_links_added"))


def _count_triggers(session: Session, action: str) -> None:
    for table, trigger in COUNT_TRIGGERS:
        session.execute(text(f"ALTER TABLE {table} {action} TRIGGER {trigger}"))


# Built from this module's constants only, never from input.
_COLUMNS = ", ".join(COUNTED)
_COUNTS = ", ".join(f"count(*) FILTER (WHERE {c})" for c in COUNTED.values())
_UPDATES = ", ".join(f"{c} = EXCLUDED.{c}" for c in COUNTED)
RECOUNT = (
    f"INSERT INTO image_count (deployment_id, images, {_COLUMNS}) "  # noqa: S608
    f"SELECT deployment_id, count(*), {_COUNTS} FROM image "
    "WHERE deployment_id = ANY(:ids) GROUP BY deployment_id "
    f"ON CONFLICT (deployment_id) DO UPDATE SET images = EXCLUDED.images, {_UPDATES}"
)


def _recount(session: Session, deployment_ids: list[int]) -> None:
    """image_count of these deployments, counted again from their images in one pass."""
    session.execute(text(RECOUNT), {"ids": deployment_ids})


def _restart_sequence(session: Session) -> None:
    """Ids were given here: PostgreSQL's sequence must continue after the largest."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT setval(pg_get_serial_sequence('image', 'id'), max(id)) FROM image")
        )


def compact_counts(engine) -> None:
    """After a bulk load on PostgreSQL: the kept counts were rewritten once per photo, and the
    dead row versions would make every read of those few hundred rows scan megabytes. VACUUM
    runs outside a transaction; the large tables only get their statistics."""
    if engine.dialect.name != "postgresql":
        return
    statements = (
        "VACUUM (FULL, ANALYZE) image_count",
        "VACUUM (FULL, ANALYZE) data_version",
        "VACUUM ANALYZE image",
        "VACUUM ANALYZE sighting_image",
        "VACUUM ANALYZE sighting",
    )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for statement in statements:
            conn.execute(text(statement))
