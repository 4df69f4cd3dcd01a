"""What the maps show: filters, aggregating queries, home ranges and public grid cells.

Everything here runs without a request and without folium (`tracker.maps` draws it):
- `parse_filters` turns query parameters into `Filters`, naming each bad one;
- `map_data` answers a filter with two or three grouped queries over the independent events
  (`tracker.events`), never by loading sightings one by one: one `StationMark` per camera station
  (its events, whether a leopard was detected, whether a camera ran), and per identified
  individual a `Track` (its stations in time order, its latest PATH_LIMIT events);
- `home_range`: a minimum convex polygon (MCP) from 3 stations on, its area computed in UTM zone
  52N (EPSG:32652, the park's zone) with pyproj;
- `public_cells`: events counted per grid cell, all the public map ever receives, so exact station
  positions and codes never leave this module for it.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func as sql
from sqlalchemy import literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from tracker import clock, events, eventstore, individuals, public
from tracker.errors import InvalidInput
from tracker.models import (
    LEOPARD,
    LIFE_STAGES,
    SEXES,
    Camera,
    Deployment,
    Individual,
    Sighting,
    Species,
    Station,
)

# The projected system areas are computed in: UTM zone 52N (WGS 84) covers 126-132 E, the park.
AREA_CRS = "EPSG:32652"
AREA_CRS_NAME = "UTM zone 52N (EPSG:32652)"
# A path shows an individual's latest events: enough for years of one cat, bounded for the page.
PATH_LIMIT = 500
ALL_SPECIES = "all"
PARAMS = ("from", "to", "species", "individual", "sex", "life_stage")
PUBLIC_PARAMS = ("from", "to", "species")


# --- filters --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What a map shows, parsed from query parameters (bookmarkable, shareable)."""

    date_from: date | None = None  # local dates in the park's time zone, both included
    date_to: date | None = None
    species_id: int | None = None  # None: every animal species
    species_label: str = "all animals"
    individual_id: int | None = None
    individual_code: str | None = None  # its current code
    individual_note: str | None = None  # e.g. "AL-12 is now known as AL-15"
    sex: str | None = None
    life_stage: str | None = None
    values: dict[str, str] = field(default_factory=dict)  # the parameters as given, for the form

    @property
    def query(self) -> dict[str, str]:
        """The non-empty parameters, to build links with."""
        return {k: v for k, v in self.values.items() if v}


def parse_filters(
    session: Session, args: Mapping[str, str], allowed: Sequence[str] = PARAMS
) -> Filters:
    """Filters from query parameters; InvalidInput names each bad one in plain words.

    `species`: a species id, its scientific or common name, or "all" (every animal species);
    absent, the individual's species if one is chosen, else the Amur leopard.
    `from`/`to`: YYYY-MM-DD, local dates of the park. `individual`: a code, current or former.
    """
    values = {name: (args.get(name) or "").strip() for name in allowed}
    errors: dict[str, str] = {}
    dates = {}
    for name in ("from", "to"):
        raw = values.get(name, "")
        if raw:
            try:
                dates[name] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = f"“{raw}” is not a date: write it as YYYY-MM-DD, e.g. 2025-06-30."
    if "from" in dates and "to" in dates and dates["from"] > dates["to"]:
        errors["to"] = f"The period ends ({dates['to']}) before it starts ({dates['from']})."

    found = None
    note = None
    code = values.get("individual", "")
    if code:
        found = individuals.find(session, code) if len(code) <= 64 else None
        if found is None:
            errors["individual"] = f"No individual has the code “{code}”, now or formerly."
        elif found.code.lower() != code.lower():
            note = f"{code} is now known as {found.code}."

    species_id, species_label = None, "all animals"
    raw = values.get("species", "")
    if raw.lower() == ALL_SPECIES:
        pass
    elif raw:
        species = _find_species(session, raw)
        if species is None:
            errors["species"] = f"No species “{raw}”: choose one from the list."
        else:
            species_id, species_label = species.id, species.common_name
    elif found is not None:
        species_id, species_label = found.species_id, found.species.common_name
    else:
        leopard = session.scalar(select(Species).where(Species.scientific_name == LEOPARD))
        if leopard is not None:
            species_id, species_label = leopard.id, leopard.common_name

    for name, choices in (("sex", SEXES), ("life_stage", LIFE_STAGES)):
        raw = values.get(name, "")
        if raw and raw not in choices:
            label = name.replace("_", " ").capitalize()
            errors[name] = f"{label} “{raw}” is not one of: {', '.join(choices)}."
    if errors:
        raise InvalidInput(errors)
    return Filters(
        date_from=dates.get("from"),
        date_to=dates.get("to"),
        species_id=species_id,
        species_label=species_label,
        individual_id=found.id if found else None,
        individual_code=found.code if found else None,
        individual_note=note,
        sex=values.get("sex") or None,
        life_stage=values.get("life_stage") or None,
        values=values,
    )


def _find_species(session: Session, raw: str) -> Species | None:
    if raw.isdigit():
        return session.get(Species, int(raw)) if len(raw) < 10 else None
    lowered = raw.lower()
    return session.scalar(
        select(Species)
        .where(
            or_(
                sql.lower(Species.scientific_name) == lowered,
                sql.lower(Species.common_name) == lowered,
            )
        )
        .order_by(Species.id)
        .limit(1)
    )


def _utc_bounds(filters: Filters, timezone: str) -> tuple[datetime | None, datetime | None]:
    """The period as UTC instants: from local midnight of `from` to local midnight after `to`."""
    start = clock.local_day_bounds(filters.date_from, timezone) if filters.date_from else None
    end = None
    if filters.date_to:
        end = clock.local_day_bounds(filters.date_to + timedelta(days=1), timezone)
    return start, end


def _conditions(filters: Filters, timezone: str, *, species: bool = True) -> list:
    """Conditions on Sighting for the filter (the species one left out when asked)."""
    live = eventstore.LIVE
    return [*_groups(filters, species=species)(live), *_per_sighting(filters, timezone)]


def _groups(filters: Filters, *, species: bool = True) -> eventstore.GroupFilter:
    """The filter's conditions that keep or drop whole groups of events: species, individual."""

    def conditions(key: eventstore.Key) -> list:
        where = []
        if species:
            if filters.species_id is not None:
                where.append(key.species_id == filters.species_id)
            else:
                animals = select(Species.id).where(Species.kind == "animal")
                where.append(key.species_id.in_(animals))
        if filters.individual_id is not None:
            where.append(key.individual_id == filters.individual_id)
        return where

    return conditions


def _per_sighting(filters: Filters, timezone: str) -> list:
    """The filter's conditions on single sightings (the event rule runs over those it keeps)."""
    where = []
    if filters.sex:
        where.append(Sighting.sex == filters.sex)
    if filters.life_stage:
        where.append(Sighting.life_stage == filters.life_stage)
    start, end = _utc_bounds(filters, timezone)
    if start is not None:
        where.append(Sighting.event_start >= start)
    if end is not None:
        where.append(Sighting.event_start < end)
    return where


# --- what the signed-in map shows -----------------------------------------------------------------


@dataclass(frozen=True)
class ActiveDeployment:
    id: int
    start_date: date
    camera_serial: str | None


@dataclass(frozen=True)
class IndividualCount:
    code: str
    name: str
    events: int


@dataclass(frozen=True)
class StationMark:
    id: int
    code: str
    name: str
    latitude: float
    longitude: float
    events: int  # independent events in the filter
    effort: bool  # a deployment ran there during the period (any deployment, without dates)
    leopard: bool  # a leopard was detected there in the period (whatever the species filter)
    last_detection: date | None  # local date of its latest event in the filter
    by_individual: tuple[IndividualCount, ...]  # identified animals, most events first
    unidentified: int  # events of animals no one identified
    deployment: ActiveDeployment | None  # the camera there now

    @property
    def state(self) -> str:
        """ "leopard", "other" (the camera ran, no leopard) or "none" (no camera then)."""
        if self.leopard:
            return "leopard"
        return "other" if self.effort else "none"


@dataclass(frozen=True)
class Track:
    """One identified individual in the filter: where it was, in what order, its range sketch."""

    individual_id: int
    code: str
    name: str
    sex: str
    events: int
    stations: tuple[tuple[int, int], ...]  # (station id, events there), most events first
    path: tuple[int, ...]  # station ids in time order, a repeat at one station drawn once
    path_events: int  # how many of its latest events the path follows (at most PATH_LIMIT)
    hull: tuple[int, ...]  # station ids around its MCP, counter-clockwise; () under 3 stations
    area_km2: float | None  # the MCP's area, in AREA_CRS; None under 3 stations

    @property
    def label(self) -> str:
        return f"{self.code} · {self.name}" if self.name else self.code


@dataclass(frozen=True)
class MapData:
    filters: Filters
    stations: tuple[StationMark, ...]  # every station, by code
    tracks: tuple[Track, ...]  # by code
    events: int  # independent events in the filter, all stations

    @property
    def max_events(self) -> int:
        return max((s.events for s in self.stations), default=0)


def map_data(
    session: Session,
    filters: Filters,
    *,
    minutes: int = events.DEFAULT_MINUTES,
    timezone: str = "UTC",
    path_limit: int = PATH_LIMIT,
) -> MapData:
    """Stations, their events and the individuals' tracks for the filter.

    One statement runs the event rule once and returns both the events per station and
    individual (a few hundred rows) and each individual's latest `path_limit` events in time
    order; the rest are small lookups of stations and deployments.
    """
    zone = ZoneInfo(timezone)
    where = _per_sighting(filters, timezone)
    starts = eventstore.starts(session, minutes, where, _groups(filters)).cte("starts")
    c = starts.c
    grouped = select(
        literal(0).label("part"),
        c.station_id,
        c.individual_id,
        sql.count().label("n"),
        sql.max(c.start).label("at"),
    ).group_by(c.station_id, c.individual_id)
    rank = sql.row_number().over(
        partition_by=c.individual_id, order_by=(c.start.desc(), c.sighting_id.desc())
    )
    latest = (
        select(c.station_id, c.individual_id, rank.label("n"))
        .where(c.individual_id.is_not(None))
        .subquery("latest")
    )
    path_rows = select(
        literal(1), latest.c.station_id, latest.c.individual_id, latest.c.n, null()
    ).where(latest.c.n <= path_limit)

    station_events: dict[int, int] = defaultdict(int)
    last_seen: dict[int, datetime] = {}
    per_individual: dict[int, dict[int, int]] = defaultdict(dict)  # individual -> station -> n
    unidentified: dict[int, int] = defaultdict(int)
    recent: dict[int, list[tuple[int, int]]] = defaultdict(list)  # individual -> (rank, station)
    for part, station_id, individual_id, n, at in session.execute(union_all(grouped, path_rows)):
        if part == 1:
            recent[individual_id].append((n, station_id))
            continue
        station_events[station_id] += n
        if at is not None and (station_id not in last_seen or at > last_seen[station_id]):
            last_seen[station_id] = at
        if individual_id is None:
            unidentified[station_id] += n
        else:
            per_individual[individual_id][station_id] = n

    with_effort = set(session.scalars(_effort(filters)))
    active = {
        station_id: ActiveDeployment(deployment_id, start, serial)
        for station_id, deployment_id, start, serial in session.execute(
            select(Deployment.station_id, Deployment.id, Deployment.start_date, Camera.serial)
            .outerjoin(Camera, Camera.id == Deployment.camera_id)
            .where(Deployment.end_date.is_(None))
            .order_by(Deployment.start_date, Deployment.id)
        )
    }
    leopards = _leopard_stations(session, filters, timezone, station_events)
    known = {
        row.id: row
        for row in session.execute(
            select(Individual.id, Individual.code, Individual.name, Individual.sex).where(
                Individual.id.in_(list(per_individual))
            )
        )
    }
    counts_at: dict[int, list[IndividualCount]] = defaultdict(list)
    for individual_id, at_stations in per_individual.items():
        who = known[individual_id]
        for station_id, n in at_stations.items():
            counts_at[station_id].append(IndividualCount(who.code, who.name, n))

    stations = []
    positions: dict[int, tuple[float, float]] = {}
    for row in session.execute(
        select(
            Station.id, Station.code, Station.name, Station.latitude, Station.longitude
        ).order_by(Station.code)
    ):
        positions[row.id] = (row.latitude, row.longitude)
        at = last_seen.get(row.id)
        stations.append(
            StationMark(
                id=row.id,
                code=row.code,
                name=row.name,
                latitude=row.latitude,
                longitude=row.longitude,
                events=station_events.get(row.id, 0),
                effort=row.id in with_effort,
                leopard=row.id in leopards,
                last_detection=at.astimezone(zone).date() if at else None,
                by_individual=tuple(
                    sorted(counts_at.get(row.id, ()), key=lambda i: (-i.events, i.code.lower()))
                ),
                unidentified=unidentified.get(row.id, 0),
                deployment=active.get(row.id),
            )
        )

    tracks = []
    for individual_id, at_stations in per_individual.items():
        who = known[individual_id]
        ranked = sorted(recent.get(individual_id, ()), reverse=True)  # oldest first
        path: list[int] = []
        for _rank, station_id in ranked:
            if not path or path[-1] != station_id:
                path.append(station_id)
        hull, area = home_range([(s, *positions[s]) for s in at_stations])
        tracks.append(
            Track(
                individual_id=individual_id,
                code=who.code,
                name=who.name,
                sex=who.sex,
                events=sum(at_stations.values()),
                stations=tuple(sorted(at_stations.items(), key=lambda s: (-s[1], s[0]))),
                path=tuple(path),
                path_events=len(ranked),
                hull=hull,
                area_km2=area,
            )
        )
    tracks.sort(key=lambda t: t.code.lower())
    return MapData(filters, tuple(stations), tuple(tracks), sum(station_events.values()))


def _effort(filters: Filters):
    """Stations where a camera ran during the period (deployment dates are local dates)."""
    query = select(Deployment.station_id).distinct()
    if filters.date_to is not None:
        query = query.where(Deployment.start_date <= filters.date_to)
    if filters.date_from is not None:
        query = query.where(
            or_(Deployment.end_date.is_(None), Deployment.end_date >= filters.date_from)
        )
    return query


def _leopard_stations(
    session: Session, filters: Filters, timezone: str, station_events: dict[int, int]
) -> set[int]:
    """Stations with a leopard detection in the filter, whichever species it shows.

    Every timed sighting is in an event, so a leopard sighting is enough: no event rule needed.
    """
    leopard = session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))
    if leopard is None:
        return set()
    if filters.species_id == leopard:
        return {station for station, n in station_events.items() if n}
    if not _per_sighting(filters, timezone):
        # Whole groups: a leopard event starts where any leopard sighting is (kept events).
        def leopards(key: eventstore.Key) -> list:
            return [*_groups(filters, species=False)(key), key.species_id == leopard]

        starts = eventstore.starts(session, groups=leopards).subquery("leopard_starts")
        return set(session.scalars(select(starts.c.station_id).distinct()))
    return set(
        session.scalars(
            select(Deployment.station_id)
            .distinct()
            .join(Sighting, Sighting.deployment_id == Deployment.id)
            .where(
                Sighting.species_id == leopard,
                events.time_trusted(),
                *_conditions(filters, timezone, species=False),
            )
        )
    )


# --- home ranges: minimum convex polygons in a projected system ----------------------------------


@functools.cache
def _to_utm():
    """pyproj's transformer to AREA_CRS, made (and pyproj imported) on the first home range."""
    from pyproj import Transformer

    return Transformer.from_crs("EPSG:4326", AREA_CRS, always_xy=True)


def project(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """(latitude, longitude) pairs to (easting, northing) metres in AREA_CRS."""
    points = list(points)
    if not points:
        return []
    xs, ys = _to_utm().transform([p[1] for p in points], [p[0] for p in points])
    return list(zip(xs, ys, strict=True))


def convex_hull(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indexes of the points on the convex hull, counter-clockwise (Andrew's monotone chain).

    Points on an edge are left out; fewer than 3 corners means the points are in a line.
    """
    order = sorted(range(len(points)), key=lambda i: points[i])

    def cross(o: int, a: int, b: int) -> float:
        (ox, oy), (ax, ay), (bx, by) = points[o], points[a], points[b]
        return (ax - ox) * (by - oy) - (ay - oy) * (bx - ox)

    def chain(indexes):
        kept: list[int] = []
        for i in indexes:
            while len(kept) >= 2 and cross(kept[-2], kept[-1], i) <= 0:
                kept.pop()
            kept.append(i)
        return kept

    if len(order) < 3:
        return order
    lower, upper = chain(order), chain(reversed(order))
    return lower[:-1] + upper[:-1]


def polygon_area(points: Sequence[tuple[float, float]]) -> float:
    """Area of a simple polygon by the shoelace formula, in the square of the points' unit."""
    total = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], points[0]], strict=True):
        total += x1 * y2 - x2 * y1
    return abs(total) / 2


def home_range(
    stations: Sequence[tuple[int, float, float]],
) -> tuple[tuple[int, ...], float | None]:
    """The minimum convex polygon of (station id, latitude, longitude): the station ids around
    it and its area in km² computed in AREA_CRS. Under 3 stations: no polygon, no area; 3 or
    more in a line: no polygon, area 0."""
    if len(stations) < 3:
        return (), None
    xy = project((lat, lon) for _id, lat, lon in stations)
    corners = convex_hull(xy)
    if len(corners) < 3:
        return (), 0.0
    area = polygon_area([xy[i] for i in corners]) / 1e6
    return tuple(stations[i][0] for i in corners), area


# --- public mode: events per grid cell ------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    south: float
    west: float
    north: float
    east: float
    events: int


def public_cells(
    session: Session,
    filters: Filters,
    *,
    grid: float = public.DEFAULT_GRID,
    minutes: int = events.DEFAULT_MINUTES,
    timezone: str = "UTC",
) -> list[Cell]:
    """Independent events counted per grid cell of `grid` degrees; only cells with events.

    The events are grouped per station in SQL, then each station's count goes to its cell here:
    what leaves this function has no station, no code and no exact position in it.
    """
    policy = public.PublicPolicy(grid)
    if problem := policy.problem():
        raise ValueError(problem)

    def shown(key: eventstore.Key) -> list:
        return [*_groups(filters)(key), key.species_id.not_in(policy.private_species())]

    where = _per_sighting(filters, timezone)
    starts = eventstore.starts(session, minutes, where, shown).subquery("starts")
    per_station = (
        select(starts.c.station_id, sql.count().label("n"))
        .group_by(starts.c.station_id)
        .subquery("per_station")
    )
    cells: dict[public.Cell, int] = defaultdict(int)
    for lat, lon, n in session.execute(
        select(Station.latitude, Station.longitude, per_station.c.n).join(
            per_station, per_station.c.station_id == Station.id
        )
    ):
        cells[policy.cell(lat, lon)] += n
    return [
        Cell(c.south, c.west, c.north, c.east, events=n)
        for c, n in sorted(cells.items(), key=lambda item: (item[0].south, item[0].west))
    ]
