"""CSV tables of the sighting log: one row per sighting, or per independent event.

Column names are Camtrap DP's where it has one (observationID, locationID, eventStart,
scientificName, individualID...). Times are ISO 8601 in the park's time zone with their offset
(tracker.exports.localtimes, written by the database). Rows go from the database cursor to the
file in batches: memory stays flat whatever the count. GeoJSON and effort reuse the sightings'
query and the CSV writer.

Public exports (Options.public) carry every coordinate generalised to the centre of its grid cell
and leave out what could place a camera more exactly: station names, free-text comments, and who
classified the sighting. Image positions (EXIF GPS) are never exported at all.

Text that people or photos typed (names, tags, comments, file names, e-mail addresses) goes
through tracker.exports.csvsafe in SQL, so no cell starts a spreadsheet formula (the lookup
tables' columns are checked once per export, and tested per row only if one needs it). The other
columns cannot: station codes start with a letter or digit (tracker.fieldwork), times and
numbers are written here, and the database constrains sex, life stage, flank and kind.
"""

from __future__ import annotations

import csv
import functools
import io
from collections.abc import Iterator
from typing import BinaryIO

from sqlalchemy import ColumnElement, Select, case, func, literal, null, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from tracker import events
from tracker.exports.core import Filters, Options
from tracker.exports.csvsafe import checked, safe_text
from tracker.exports.localtimes import LocalTimes
from tracker.models import (
    Deployment,
    Image,
    Individual,
    Sighting,
    Species,
    Station,
    User,
    sighting_image,
)

BATCH = 5_000  # rows fetched from the cursor at a time
LIFE_STAGES = {"cub": "juvenile"}  # ours -> Camtrap DP's; adult and subadult are the same

# fmt: off
SIGHTING_COLUMNS = (
    "observationID", "deploymentID", "locationID", "locationName", "latitude", "longitude",
    "eventStart", "eventEnd", "observationType", "scientificName", "vernacularName",
    "individualID", "count", "sex", "lifeStage", "flank", "observationComments", "mediaFiles",
    "classifiedBy", "classificationTimestamp",
)
EVENT_COLUMNS = (
    "eventID", "locationID", "locationName", "latitude", "longitude", "eventStart", "eventEnd",
    "observationType", "scientificName", "vernacularName", "individualID", "sex", "count",
    "observations",
)
# fmt: on


def _media_files(dialect: str, public: bool) -> ColumnElement[str]:
    """The sighting's image file names in time order, `;`-separated (a correlated subquery):
    the client's names for the team, the stored names in public (tracker.public)."""
    name = (Image.sha256 + ".jpg") if public else safe_text(Image.original_filename)
    taken = (Image.taken_at_utc, Image.id)
    linked = sighting_image.c.sighting_id == Sighting.id
    if dialect == "postgresql":
        joined = func.string_agg(name, aggregate_order_by(literal(";"), *taken))
        return (
            select(joined)
            .join(sighting_image, sighting_image.c.image_id == Image.id)
            .where(linked)
            .scalar_subquery()
        )
    # SQLite before 3.44 has no ORDER BY inside group_concat; it keeps an ordered subquery's
    # order when an aggregate reads it (the subquery is then never flattened).
    names = (
        select(name.label("name"))
        .join(sighting_image, sighting_image.c.image_id == Image.id)
        .where(linked)
        .order_by(*taken)
        .correlate(Sighting)
        .subquery("names")
    )
    return select(func.group_concat(names.c.name, ";")).scalar_subquery()


# --- sightings ----------------------------------------------------------------------------------


def sightings_query(session: Session, filters: Filters, options: Options) -> Select:
    """One row per sighting, in SIGHTING_COLUMNS order, in the order they were logged."""
    local = LocalTimes(session, options.timezone, options.today)
    public = options.public
    stage = Sighting.life_stage
    safe = functools.partial(checked, session)
    return (
        select(
            Sighting.id,
            Sighting.deployment_id,
            Station.code,
            null() if public else safe(Station.name),
            Station.latitude,
            Station.longitude,
            local(Sighting.event_start),
            local(Sighting.event_end),
            Species.kind,
            safe(Species.scientific_name),
            safe(Species.common_name),
            safe(Individual.code),
            Sighting.count,
            func.coalesce(Sighting.sex, Individual.sex),
            case(*((stage == ours, theirs) for ours, theirs in LIFE_STAGES.items()), else_=stage),
            Sighting.flank,
            null() if public else safe_text(Sighting.comments),
            _media_files(session.get_bind().dialect.name, public),
            null() if public else safe(User.email),
            local(Sighting.logged_at),
        )
        .join(Deployment, Deployment.id == Sighting.deployment_id)
        .join(Station, Station.id == Deployment.station_id)
        .join(Species, Species.id == Sighting.species_id)
        .outerjoin(Individual, Individual.id == Sighting.individual_id)
        .outerjoin(User, User.id == Sighting.logged_by_id)
        # Untimed sightings, and those on photos with a timestamp issue, wait for the clock fix.
        .where(events.time_trusted(), *filters.conditions(options.timezone), *options.shown())
        .order_by(Sighting.id)
    )


def fetch_batches(session: Session, query: Select) -> Iterator[list]:
    """The query's rows, BATCH at a time, as plain tuples: memory stays flat.

    PostgreSQL streams from a server-side cursor. SQLite's cursor steps through the rows as they
    are fetched, and reading it directly saves building a Row object per row: a tenth of the
    time of a large CSV export.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        with connection.execute(query, execution_options={"yield_per": BATCH}) as result:
            yield from result.partitions()
        return
    with connection.execute(query) as result:
        while rows := result.cursor.fetchmany(BATCH):
            yield rows


def text_stream(out: BinaryIO) -> io.TextIOWrapper:
    # A large buffer: csv.writer then writes to memory, and the file sees few big writes.
    return io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)


def write_csv(out: BinaryIO, header, rows) -> int:
    text = text_stream(out)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    written = 0
    for batch in rows:
        writer.writerows(batch)
        written += len(batch)
    text.flush()
    text.detach()  # the caller owns `out`
    return written


def public_rows(batches, options: Options, lat: int):
    """Rows with the coordinates at positions lat, lat + 1 moved to their grid cell's centre."""
    cells: dict[tuple[float, float], tuple[float, float]] = {}
    for batch in batches:
        rows = []
        for row in batch:
            where = (row[lat], row[lat + 1])
            if where not in cells:
                cells[where] = options.policy.place(*where)
            rows.append((*row[:lat], *cells[where], *row[lat + 2 :]))
        yield rows


def coordinates_at(columns: tuple[str, ...]) -> int:
    return columns.index("latitude")


def write_sightings_csv(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """One row per sighting (or, with options.events, per independent event)."""
    if options.events:
        return write_events_csv(session, filters, out, options)
    batches = fetch_batches(session, sightings_query(session, filters, options))
    if options.public:
        batches = public_rows(batches, options, coordinates_at(SIGHTING_COLUMNS))
    return write_csv(out, SIGHTING_COLUMNS, batches)


# --- independent events -------------------------------------------------------------------------


def events_query(session: Session, filters: Filters, options: Options) -> Select:
    """One row per independent event among the filtered sightings, in EVENT_COLUMNS order.

    The event rule runs on the filtered sightings: a date range cuts an event at its edge.
    """
    local = LocalTimes(session, options.timezone, options.today)
    where = filters.conditions(options.timezone) + options.shown()
    found = events.events(options.minutes, where=where)
    e = found.subquery("found").c
    safe = functools.partial(checked, session)
    return (
        select(
            e.event_id,
            Station.code,
            null() if options.public else safe(Station.name),
            Station.latitude,
            Station.longitude,
            local(e.start),
            local(e.end),
            Species.kind,
            safe(Species.scientific_name),
            safe(Species.common_name),
            safe(Individual.code),
            Individual.sex,
            e.count,
            e.sightings,
        )
        .join(Station, Station.id == e.station_id)
        .join(Species, Species.id == e.species_id)
        .outerjoin(Individual, Individual.id == e.individual_id)
        .order_by(e.start, e.event_id)
    )


def write_events_csv(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """One row per independent event."""
    batches = fetch_batches(session, events_query(session, filters, options))
    if options.public:
        batches = public_rows(batches, options, coordinates_at(EVENT_COLUMNS))
    return write_csv(out, EVENT_COLUMNS, batches)
