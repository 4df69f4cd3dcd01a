"""Camera effort and relative abundance: trap-nights, and independent events per 100 trap-nights.

Trap-nights are camera-days, counted by the one rule (tracker.outages.camera_days) that capture
histories and Camtrap DP use too: the deployment's local days from its start date to its end date,
both included (1 to 11 May is 11), less the days it was recorded as not working (a full card, a
flat battery). One still in the field counts until the day of its latest photo or sighting, the
last card brought in (tracker.exports.spans.known_until): the days since are not in the tracker
yet, and counting them would dilute its events. All are clipped to the filters' date range. A
station's trap-nights are the days at least one of its cameras worked: two cameras at one station
on one day are one trap-night, as they make one independent event.

Events count where their station had a camera-day on the event's local day (in its deployment's
time zone): an event dated in an outage is left out of the rates and counted in ``off_duty``, as
the capture histories leave it out of secr.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import BinaryIO
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, column, func, select, values
from sqlalchemy.orm import Session, selectinload

from tracker import eventstore, outages
from tracker.exports import csvsafe
from tracker.exports.core import Filters, Options, station_place, stations
from tracker.exports.spans import known_until
from tracker.exports.tables import write_csv
from tracker.models import Deployment, Individual, Sighting, Species, UTCDateTime

# fmt: off
EFFORT_COLUMNS = (
    "level", "locationID", "locationName", "latitude", "longitude", "deploymentID", "start",
    "end", "trapNights", "outageNights", "scientificName", "vernacularName", "independentEvents",
    "eventsPer100TrapNights",
)
# fmt: on


@dataclass(frozen=True)
class DeploymentEffort:
    """A deployment's camera-days within the date range: `start` to `end` (both included), less
    its outages."""

    deployment_id: int
    station_id: int
    start: date
    end: date
    working: tuple[outages.Period, ...]  # half-open periods: from start to end, less the outages
    open: bool  # still in the field: counted up to its latest data (or the range's end)

    @property
    def trap_nights(self) -> int:
        return sum((b - a).days for a, b in self.working)

    @property
    def outage_nights(self) -> int:
        return (self.end - self.start).days + 1 - self.trap_nights


@dataclass(frozen=True)
class Place:
    """A station as the effort shows it: plain data, so that a computed effort can be cached
    (tracker.figures) beyond the session that read it."""

    id: int
    code: str
    name: str
    latitude: float
    longitude: float


@dataclass(frozen=True)
class SpeciesRef:
    id: int
    scientific_name: str
    common_name: str


@dataclass(frozen=True)
class StationEffort:
    station: Place
    trap_nights: int  # nights with at least one camera working; two cameras do not count twice
    deployments: tuple[DeploymentEffort, ...]
    events: dict[int, int]  # species id -> independent events on its camera-days

    def rate(self, species_id: int | None = None) -> float | None:
        """Independent events per 100 trap-nights, of one species or of all; None without effort."""
        found = self.events.get(species_id, 0) if species_id else sum(self.events.values())
        return per_100(found, self.trap_nights)


@dataclass(frozen=True)
class Effort:
    stations: tuple[StationEffort, ...]
    species: tuple[SpeciesRef, ...]  # those with events, and the one filtered for
    today: date
    off_duty: int = 0  # events on a day no camera at their station worked: not in the rates

    @property
    def trap_nights(self) -> int:
        return sum(s.trap_nights for s in self.stations)

    def events_of(self, species_id: int) -> int:
        return sum(s.events.get(species_id, 0) for s in self.stations)

    def rate(self, species_id: int) -> float | None:
        return per_100(self.events_of(species_id), self.trap_nights)


def cache_key(filters: Filters, options: Options, today: date | None = None) -> tuple:
    """What an effort depends on besides the data: the key of its cached copy (tracker.figures,
    which also keys it by the data version, so any change to sightings, photos, deployments,
    outages or stations computes it again)."""
    f = filters
    where = (f.date_from, f.date_to, f.station_ids, f.species_id, f.individual_id)
    how = (options.public, options.grid, options.minutes, options.timezone, today or options.today)
    return ("effort", *where, *how)


def per_100(events_found: int, trap_nights: int) -> float | None:
    return round(100 * events_found / trap_nights, 3) if trap_nights else None


def effort(
    session: Session, filters: Filters, options: Options, today: date | None = None
) -> Effort:
    """Trap-nights per deployment and station, clipped to the filters' dates, and independent
    events (of the filtered species and individual) per station and species.

    A deployment from 1 to 11 May is 11 trap-nights; one still open counts until its latest
    photo or sighting (not beyond `today`). From 5 to 7 May (inclusive) clips it to 3.
    """
    today = today or options.today
    deployments = defaultdict(list)
    for found in _deployment_effort(session, filters, today):
        deployments[found.station_id].append(found)
    counted, off_duty = _events_on_camera_days(session, filters, options, deployments)
    per_station = defaultdict(Counter)
    for (station_id, species_id), n in counted.items():
        per_station[station_id][species_id] = n
    places = tuple(
        StationEffort(
            Place(station.id, station.code, station.name, station.latitude, station.longitude),
            outages.union_days(p for d in deployments[station.id] for p in d.working),
            tuple(deployments[station.id]),
            dict(per_station[station.id]),
        )
        for station in stations(session, filters)
        if filters.station_ids or deployments[station.id] or per_station[station.id]
    )
    return Effort(places, _species_of(session, filters, options, counted), today, off_duty)


def _events_on_camera_days(session, filters: Filters, options: Options, deployments) -> tuple:
    """Events per (station, species) on a camera-day of their station, and how many were not.

    An event's day is its local date in the time zone of the deployment it was seen by.
    """

    def groups(key: eventstore.Key) -> list:
        return filters.group_conditions(key) + options.shown_groups(key)

    where = filters.date_conditions(options.timezone)
    s = eventstore.starts(session, options.minutes, where, groups).subquery("starts")
    animals = s.c.species_id.in_(select(Species.id).where(Species.kind != "blank"))
    if not eventstore.kept(options.minutes, where):
        every = (
            select(s.c.station_id, s.c.species_id, s.c.start, Deployment.timezone)
            .join(Sighting, Sighting.id == s.c.sighting_id)
            .join(Deployment, Deployment.id == Sighting.deployment_id)
            .where(animals)
        )
        return _day_by_day(session.execute(every), deployments)
    # Kept events: counted per station and species in SQL; only those within a day of a day
    # without a camera (before the first, in a gap or an outage, after the last) are looked at
    # one by one, a handful instead of a season's.
    counted = Counter(
        {
            (station_id, species_id): n
            for station_id, species_id, n in session.execute(
                select(s.c.station_id, s.c.species_id, func.count())
                .where(animals)
                .group_by(s.c.station_id, s.c.species_id)
            )
        }
    )
    stations_seen = {station_id for station_id, _ in counted}
    near = _near_days_off(deployments, stations_seen)
    if not near:
        return counted, 0
    ranges = (
        values(
            column("station_id", Integer),
            column("low", UTCDateTime()),
            column("high", UTCDateTime()),
            name="near",
        )
        .data(near)
        .cte("near")
    )
    inside = (s.c.station_id == ranges.c.station_id) & (s.c.start >= ranges.c.low)
    near_rows = session.execute(
        select(s.c.sighting_id, s.c.station_id, s.c.species_id, s.c.start)
        .join(ranges, inside & (s.c.start < ranges.c.high))
        .where(animals)
    ).all()
    # Their deployments' zones asked by id: a join would lead PostgreSQL to hash every sighting.
    zone_of = {}
    for at in range(0, len(near_rows), _IDS):
        ids = [row[0] for row in near_rows[at : at + _IDS]]
        zone_of.update(
            session.execute(
                select(Sighting.id, Deployment.timezone)
                .join(Deployment, Deployment.id == Sighting.deployment_id)
                .where(Sighting.id.in_(ids))
            ).all()
        )
    rows = [(st, sp, start, zone_of[sid]) for sid, st, sp, start in near_rows]
    found, off_duty = _day_by_day(rows, deployments, off=True)
    for key, n in found.items():
        counted[key] -= n
    return +counted, off_duty


def _day_by_day(rows, deployments, *, off: bool = False) -> tuple[Counter, int]:
    """Of events (station, species, start, time zone), how many per (station, species) fell on
    a camera-day of their station (or, `off`, did not), and how many did not."""
    zones: dict[str, ZoneInfo] = {}
    counted, off_duty = Counter(), 0
    for station_id, species_id, start, tz_name in rows:
        day = start.astimezone(zones.setdefault(tz_name, ZoneInfo(tz_name))).date()
        periods = (p for d in deployments.get(station_id, ()) for p in d.working)
        on_duty = any(a <= day < b for a, b in periods)
        if on_duty != off:
            counted[(station_id, species_id)] += 1
        if not on_duty:
            off_duty += 1
    return counted, off_duty


# Any instant within a day of a local day, whatever the time zone (offsets stay within 14 hours).
_SLACK = timedelta(days=1)
_IDS = 10_000  # sighting ids asked at once
_EVER = (datetime(1900, 1, 1, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC))


def _near_days_off(deployments, stations) -> list[tuple[int, datetime, datetime]]:
    """(station id, from, until): UTC instants within a day of a day no camera of the station
    worked, merged; the whole time line for a station without camera-days."""
    found = []
    for station_id in sorted(stations):
        working = sorted(p for d in deployments.get(station_id, ()) for p in d.working)
        edges, reached = [], None  # the days off: before, between and after the working ones
        for a, b in working:
            if reached is None or a > reached:
                edges.append((reached, a))
            reached = b if reached is None else max(reached, b)
        edges.append((reached, None))
        spans = []
        for a, b in edges:
            low = _EVER[0] if a is None else _midnight(a) - _SLACK
            high = _EVER[1] if b is None else _midnight(b) + _SLACK
            if spans and low <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(high, spans[-1][1]))
            else:
                spans.append((low, high))
        found += [(station_id, low, high) for low, high in spans]
    return found


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _deployment_effort(session: Session, filters: Filters, today: date):
    query = (
        select(Deployment)
        .options(selectinload(Deployment.outages))
        .order_by(Deployment.start_date, Deployment.id)
    )
    if filters.station_ids:
        query = query.where(Deployment.station_id.in_(filters.station_ids))
    low, high = filters.date_from, filters.date_to
    deployments = session.scalars(query).all()
    known = known_until(session, deployments)
    for d in deployments:
        last = d.end_date or min(known[d.id], today)
        start = max(d.start_date, low) if low else d.start_date
        last = min(last, high) if high else last
        if last < start:
            continue  # outside the range
        working = tuple(outages.camera_days(start, last, outages.spans(d)))
        yield DeploymentEffort(d.id, d.station_id, start, last, working, d.end_date is None)


def _species_of(
    session: Session, filters: Filters, options: Options, counted: dict
) -> tuple[SpeciesRef, ...]:
    wanted = {species_id for _, species_id in counted}
    if filters.species_id is not None:
        wanted.add(filters.species_id)
    if filters.individual_id is not None:
        wanted.add(session.get(Individual, filters.individual_id).species_id)
    query = (
        select(Species.id, Species.scientific_name, Species.common_name)
        .where(Species.id.in_(wanted))
        .order_by(Species.id)
    )
    if options.public:  # not even a row of zeros for people
        query = query.where(Species.id.not_in(options.policy.private_species()))
    return tuple(SpeciesRef(*row) for row in session.execute(query))


# --- the CSV ------------------------------------------------------------------------------------


def effort_rows(found, options: Options):
    """The effort (tracker.effort.Effort) as rows of EFFORT_COLUMNS: per station, its row, its
    deployments' rows and a row per species; then a row per species over all stations."""
    for s in found.stations:
        lat, lon = station_place(s.station, options)
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


def _species_fields(species: SpeciesRef) -> dict:
    return {"scientificName": species.scientific_name, "vernacularName": species.common_name}


def write_effort(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """Trap-nights and independent events per 100 trap-nights, per station and species."""
    found = effort(session, filters, options)
    return write_csv(out, EFFORT_COLUMNS, [[csvsafe.row(r) for r in effort_rows(found, options)]])
