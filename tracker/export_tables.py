"""Tables of the sighting log: CSV of sightings and of independent events, GeoJSON, and effort.

Column names are Camtrap DP's where it has one (observationID, locationID, eventStart,
scientificName, individualID...). Times are ISO 8601 in the park's time zone with their offset
(`2024-05-02T09:40:00+10:00`, whole seconds); the database writes them, so a million rows are
never turned into Python datetimes one by one. Rows go from the database cursor to the file in
batches: memory stays flat whatever the count. Effort's figures are worked out in tracker.effort.

Public exports (Options.public) carry every coordinate generalised to the centre of its grid cell
and leave out what could place a camera more exactly: station names, free-text comments, and who
classified the sighting. Image positions (EXIF GPS) are never exported at all.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Integer, Select, String, case, func, literal, null, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from tracker import clock, events
from tracker.export import Filters, Options, generalise, register
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
from tracker.stats import utc_offsets

CSV_TYPE = "text/csv; charset=utf-8"
GEOJSON_TYPE = "application/geo+json"
BATCH = 5_000  # rows fetched from the cursor at a time
DAY = timedelta(days=1)
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
EFFORT_COLUMNS = (
    "level", "locationID", "locationName", "latitude", "longitude", "deploymentID", "start",
    "end", "trapNights", "outageNights", "scientificName", "vernacularName", "independentEvents",
    "eventsPer100TrapNights",
)
# fmt: on


# --- options, filters and local times in SQL ----------------------------------------------------


def options_from_config(config: Mapping, **changes) -> Options:
    """Options from the app's settings (time zone, event window, public grid), then `changes`."""
    settings = {
        "timezone": config.get("TIMEZONE", Options.timezone),
        "minutes": int(config.get("EVENT_MINUTES", Options.minutes)),
        "grid": float(config.get("PUBLIC_GRID", Options.grid)),
    }
    return Options(**(settings | changes))


class local_iso(FunctionElement):
    """A stored (naive UTC) time shifted by a number of seconds, as `YYYY-MM-DDThh:mm:ss`."""

    type = String()
    inherit_cache = True


@compiles(local_iso, "sqlite")
def _local_iso_sqlite(element, compiler, **kw):
    # datetime() with a constant modifier, its space made a T: a fifth faster than strftime()
    # with a computed one, over the three times of a million-row export.
    moment, shift = element.clauses.clauses
    seconds = int(shift.value)
    return f"replace(datetime({compiler.process(moment, **kw)}, '{seconds:+d} seconds'), ' ', 'T')"


@compiles(local_iso, "postgresql")
def _local_iso_postgresql(element, compiler, **kw):
    moment, shift = (compiler.process(c, **kw) for c in element.clauses.clauses)
    return f"""to_char({moment} + ({shift}) * INTERVAL '1 second', 'YYYY-MM-DD"T"HH24:MI:SS')"""


class LocalTimes:
    """Writes stored times as local ISO 8601 text with the offset, in SQL.

    The zone's offsets over the field seasons (the deployments' dates, up to today) are found
    once in Python, as the dashboard does: a single offset and no CASE at all in Vladivostok, a
    CASE where clocks change. A time outside the seasons (a camera clock years off) is written
    with the nearest season's offset: the same instant, in an offset the zone may not have used.
    """

    def __init__(self, session: Session, timezone: str):
        zone = ZoneInfo(timezone)
        first, last = session.execute(
            select(func.min(Deployment.start_date), func.max(Deployment.end_date))
        ).one()
        today = datetime.now(zone).date()
        first = first or today
        last = max(last or today, today)
        self.offsets = utc_offsets(
            zone,
            clock.local_day_bounds(first, timezone),
            clock.local_day_bounds(last, timezone) + DAY,
        )

    def __call__(self, moment: ColumnElement) -> ColumnElement[str]:
        (_, initial), *changes = self.offsets
        if not changes:
            return _with_offset(moment, initial)
        whens, previous = [], initial
        for since, offset in changes:
            whens.append((moment < since, _with_offset(moment, previous)))
            previous = offset
        return case(*whens, else_=_with_offset(moment, previous))


def _with_offset(moment: ColumnElement, seconds: int) -> ColumnElement[str]:
    sign = "-" if seconds < 0 else "+"
    hours, minutes = divmod(abs(seconds) // 60, 60)
    suffix = f"{sign}{hours:02d}:{minutes:02d}"
    return local_iso(moment, literal(seconds, Integer)) + literal(suffix, String)


def _media_files(dialect: str) -> ColumnElement[str]:
    """The sighting's image file names in time order, `;`-separated (a correlated subquery)."""
    taken = (Image.taken_at_utc, Image.id)
    linked = sighting_image.c.sighting_id == Sighting.id
    if dialect == "postgresql":
        joined = func.string_agg(Image.original_filename, aggregate_order_by(literal(";"), *taken))
        return (
            select(joined)
            .join(sighting_image, sighting_image.c.image_id == Image.id)
            .where(linked)
            .scalar_subquery()
        )
    # SQLite before 3.44 has no ORDER BY inside group_concat; it keeps an ordered subquery's
    # order when an aggregate reads it (the subquery is then never flattened).
    names = (
        select(Image.original_filename.label("name"))
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
    local = LocalTimes(session, options.timezone)
    public = options.public
    stage = Sighting.life_stage
    return (
        select(
            Sighting.id,
            Sighting.deployment_id,
            Station.code,
            null() if public else Station.name,
            Station.latitude,
            Station.longitude,
            local(Sighting.event_start),
            local(Sighting.event_end),
            Species.kind,
            Species.scientific_name,
            Species.common_name,
            Individual.code,
            Sighting.count,
            func.coalesce(Sighting.sex, Individual.sex),
            case(*((stage == ours, theirs) for ours, theirs in LIFE_STAGES.items()), else_=stage),
            Sighting.flank,
            null() if public else Sighting.comments,
            _media_files(session.get_bind().dialect.name),
            null() if public else User.email,
            local(Sighting.logged_at),
        )
        .join(Deployment, Deployment.id == Sighting.deployment_id)
        .join(Station, Station.id == Deployment.station_id)
        .join(Species, Species.id == Sighting.species_id)
        .outerjoin(Individual, Individual.id == Sighting.individual_id)
        .outerjoin(User, User.id == Sighting.logged_by_id)
        .where(*filters.conditions(options.timezone))
        .order_by(Sighting.id)
    )


def _batches(session: Session, query: Select) -> Iterator[list]:
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


def _text(out: BinaryIO) -> io.TextIOWrapper:
    # A large buffer: csv.writer then writes to memory, and the file sees few big writes.
    return io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=False)


def _write_csv(out: BinaryIO, header, rows) -> int:
    text = _text(out)
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    written = 0
    for batch in rows:
        writer.writerows(batch)
        written += len(batch)
    text.flush()
    text.detach()  # the caller owns `out`
    return written


def _public_rows(batches, options: Options, lat: int):
    """Rows with the coordinates at positions lat, lat + 1 moved to their grid cell's centre."""
    cells: dict[tuple[float, float], tuple[float, float]] = {}
    for batch in batches:
        rows = []
        for row in batch:
            where = (row[lat], row[lat + 1])
            if where not in cells:
                cells[where] = (
                    generalise(where[0], options.grid),
                    generalise(where[1], options.grid),
                )
            rows.append((*row[:lat], *cells[where], *row[lat + 2 :]))
        yield rows


def _coordinates_at(columns: tuple[str, ...]) -> int:
    return columns.index("latitude")


@register("csv", "csv", CSV_TYPE)
def write_sightings_csv(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """One row per sighting (or, with options.events, per independent event)."""
    if options.events:
        return write_events_csv(session, filters, out, options)
    batches = _batches(session, sightings_query(session, filters, options))
    if options.public:
        batches = _public_rows(batches, options, _coordinates_at(SIGHTING_COLUMNS))
    return _write_csv(out, SIGHTING_COLUMNS, batches)


# --- independent events -------------------------------------------------------------------------


def events_query(session: Session, filters: Filters, options: Options) -> Select:
    """One row per independent event among the filtered sightings, in EVENT_COLUMNS order.

    The event rule runs on the filtered sightings: a date range cuts an event at its edge.
    """
    local = LocalTimes(session, options.timezone)
    found = events.events(options.minutes, where=filters.conditions(options.timezone))
    e = found.subquery("found").c
    return (
        select(
            e.event_id,
            Station.code,
            null() if options.public else Station.name,
            Station.latitude,
            Station.longitude,
            local(e.start),
            local(e.end),
            Species.kind,
            Species.scientific_name,
            Species.common_name,
            Individual.code,
            Individual.sex,
            e.count,
            e.sightings,
        )
        .join(Station, Station.id == e.station_id)
        .join(Species, Species.id == e.species_id)
        .outerjoin(Individual, Individual.id == e.individual_id)
        .order_by(e.start, e.event_id)
    )


@register("events-csv", "csv", CSV_TYPE)
def write_events_csv(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """One row per independent event."""
    batches = _batches(session, events_query(session, filters, options))
    if options.public:
        batches = _public_rows(batches, options, _coordinates_at(EVENT_COLUMNS))
    return _write_csv(out, EVENT_COLUMNS, batches)


# --- GeoJSON ------------------------------------------------------------------------------------


@register("geojson", "geojson", GEOJSON_TYPE)
def write_geojson(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """Sightings as Point features, or with options.per_station one feature per station."""
    if options.per_station:
        features = station_features(session, filters, options)
        return _write_features(out, features)
    lat = _coordinates_at(SIGHTING_COLUMNS)
    batches = _batches(session, sightings_query(session, filters, options))
    if options.public:
        batches = _public_rows(batches, options, lat)
    return _write_features(out, _sighting_features(batches, lat))


def _sighting_features(batches, lat: int):
    names = SIGHTING_COLUMNS[:lat] + SIGHTING_COLUMNS[lat + 2 :]
    for batch in batches:
        for row in batch:
            properties = dict(zip(names, (*row[:lat], *row[lat + 2 :]), strict=True))
            yield _feature(row[lat], row[lat + 1], properties)


def _feature(latitude: float, longitude: float, properties: dict) -> dict:
    # GeoJSON (RFC 7946) orders a position longitude first.
    point = {"type": "Point", "coordinates": [longitude, latitude]}
    return {"type": "Feature", "geometry": point, "properties": properties}


def _write_features(out: BinaryIO, features) -> int:
    text = _text(out)
    text.write('{"type": "FeatureCollection", "features": [')
    written = 0
    for feature in features:
        text.write(",\n" if written else "\n")
        text.write(json.dumps(feature, ensure_ascii=False))
        written += 1
    text.write("\n]}\n")
    text.flush()
    text.detach()
    return written


def station_features(session: Session, filters: Filters, options: Options) -> list[dict]:
    """One feature per station (those filtered, or all): sightings, independent events and
    identified individuals within the filters, in total and per species."""
    where = filters.conditions(options.timezone)
    by_place = (Deployment.station_id, Sighting.species_id)
    sightings = counts(
        session,
        select(*by_place, func.count())
        .join(Deployment, Deployment.id == Sighting.deployment_id)
        .where(*where)
        .group_by(*by_place),
    )
    starts = events.event_starts(options.minutes, where=where).subquery("starts")
    found = counts(
        session,
        select(starts.c.station_id, starts.c.species_id, func.count()).group_by(
            starts.c.station_id, starts.c.species_id
        ),
    )
    individuals = dict(
        session.execute(
            select(Deployment.station_id, func.count(func.distinct(Sighting.individual_id)))
            .join(Deployment, Deployment.id == Sighting.deployment_id)
            .where(Sighting.individual_id.is_not(None), *where)
            .group_by(Deployment.station_id)
        ).all()
    )
    species = {s.id: s for s in session.scalars(select(Species).order_by(Species.id))}
    features = []
    for station in stations(session, filters):
        seen = sorted({sp for (st, sp) in sightings if st == station.id})
        per_species = [
            {
                "scientificName": species[sp].scientific_name,
                "vernacularName": species[sp].common_name,
                "sightings": sightings.get((station.id, sp), 0),
                "independentEvents": found.get((station.id, sp), 0),
            }
            for sp in seen
        ]
        properties = {
            "locationID": station.code,
            "locationName": None if options.public else station.name,
            "sightings": sum(s["sightings"] for s in per_species),
            "independentEvents": sum(s["independentEvents"] for s in per_species),
            "individuals": individuals.get(station.id, 0),
            "species": per_species,
        }
        features.append(_feature(*_place(station, options), properties))
    return features


def counts(session: Session, query: Select) -> dict[tuple[int, int], int]:
    return {(a, b): n for a, b, n in session.execute(query)}


def stations(session: Session, filters: Filters) -> list[Station]:
    query = select(Station).order_by(Station.code)
    if filters.station_ids:
        query = query.where(Station.id.in_(filters.station_ids))
    return list(session.scalars(query))


def _place(station: Station, options: Options) -> tuple[float, float]:
    if not options.public:
        return station.latitude, station.longitude
    return generalise(station.latitude, options.grid), generalise(station.longitude, options.grid)


# --- effort -------------------------------------------------------------------------------------


def effort_rows(found, options: Options):
    """The effort (tracker.effort.Effort) as rows of EFFORT_COLUMNS: per station, its row, its
    deployments' rows and a row per species; then a row per species over all stations."""
    for s in found.stations:
        lat, lon = _place(s.station, options)
        name = None if options.public else s.station.name
        place = {"locationID": s.station.code, "locationName": name, "latitude": lat}
        place |= {"longitude": lon, "trapNights": s.trap_nights}
        all_events = sum(s.events.values())
        yield _row("station", place, independentEvents=all_events, eventsPer100TrapNights=s.rate())
        for d in s.deployments:
            yield _row("deployment", place, deploymentID=d.deployment_id, start=d.start,
                       end=d.end, trapNights=d.trap_nights,
                       outageNights=d.outage_nights)  # fmt: skip
        for sp in found.species:
            yield _row("station-species", place, **_species_fields(sp),
                       independentEvents=s.events.get(sp.id, 0),
                       eventsPer100TrapNights=s.rate(sp.id))  # fmt: skip
    for sp in found.species:
        yield _row("species", {"trapNights": found.trap_nights}, **_species_fields(sp),
                   independentEvents=found.events_of(sp.id),
                   eventsPer100TrapNights=found.rate(sp.id))  # fmt: skip


def _row(level: str, place: dict, **fields) -> tuple:
    values = {"level": level} | place | fields
    return tuple(values.get(column) for column in EFFORT_COLUMNS)


def _species_fields(species: Species) -> dict:
    return {"scientificName": species.scientific_name, "vernacularName": species.common_name}


@register("effort", "csv", CSV_TYPE)
def write_effort(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """Trap-nights and independent events per 100 trap-nights, per station and species."""
    from tracker import effort  # it builds on this module

    found = effort.effort(session, filters, options, effort.local_today(options.timezone))
    return _write_csv(out, EFFORT_COLUMNS, [list(effort_rows(found, options))])
