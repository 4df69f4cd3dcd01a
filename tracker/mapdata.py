"""What the maps show: aggregating queries for a filter (tracker.mapfilters) and public grid cells.

Everything here runs without a request and without folium (`tracker.maps` draws it):
- `map_data` answers a filter with two or three grouped queries over the independent events
  (`tracker.events`), never by loading sightings one by one: one `StationMark` per camera station
  (its events, whether a leopard was detected, whether a camera ran), and per identified
  individual a `Track` (its stations in time order, its latest PATH_LIMIT events);
- each track's home range (tracker.homerange), a minimum convex polygon from 3 stations on;
- `public_cells`: events counted per grid cell, all the public map ever receives, so exact station
  positions and codes never leave this module for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func as sql
from sqlalchemy import literal, null, or_, select, union_all
from sqlalchemy.orm import Session

from tracker import events, eventstore, public
from tracker.homerange import home_range
from tracker.mapfilters import Filters, conditions, group_conditions, per_sighting
from tracker.models import (
    LEOPARD,
    Camera,
    Deployment,
    Individual,
    Sighting,
    Species,
    Station,
)

# A path shows an individual's latest events: enough for years of one cat, bounded for the page.
PATH_LIMIT = 500


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
    area_km2: float | None  # the MCP's area (tracker.homerange.AREA_CRS); None under 3 stations

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
    where = per_sighting(filters, timezone)
    starts = eventstore.starts(session, minutes, where, group_conditions(filters)).cte("starts")
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
    if not per_sighting(filters, timezone):
        # Whole groups: a leopard event starts where any leopard sighting is (kept events).
        def leopards(key: eventstore.Key) -> list:
            return [
                *group_conditions(filters, species=False)(key),
                key.species_id == leopard,
            ]

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
                *conditions(filters, timezone, species=False),
            )
        )
    )


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
        return [
            *group_conditions(filters)(key),
            key.species_id.not_in(policy.private_species()),
        ]

    where = per_sighting(filters, timezone)
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
