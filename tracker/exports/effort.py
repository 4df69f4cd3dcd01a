"""Camera effort and relative abundance: trap-nights, and independent events per 100 trap-nights.

A deployment's trap-nights run from its start date to its end date (1 to 11 May is 10 nights); one
still in the field counts until the day of its latest photo or sighting, the last card brought in
(tracker.exports.spans.known_until): the nights since are not in the tracker yet, and counting them
would dilute its events. Both are clipped to the filters' date range, whose days count in full.
A station's trap-nights are the nights at least one of its cameras was out: two cameras at one
station on one night are one trap-night, as they make one independent event.

Nights a camera was recorded as not working (a full card, a flat battery: tracker.outages) are
not trap-nights; a station's other camera may still cover them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tracker import events, outages
from tracker.exports.core import Filters, Options, counts, station_place, stations
from tracker.exports.spans import known_until
from tracker.exports.tables import write_csv
from tracker.models import Deployment, Individual, Species, Station

# fmt: off
EFFORT_COLUMNS = (
    "level", "locationID", "locationName", "latitude", "longitude", "deploymentID", "start",
    "end", "trapNights", "outageNights", "scientificName", "vernacularName", "independentEvents",
    "eventsPer100TrapNights",
)
# fmt: on


@dataclass(frozen=True)
class DeploymentEffort:
    """A deployment's nights within the date range: from `start` to `end`, less its outages."""

    deployment_id: int
    station_id: int
    start: date
    end: date
    working: tuple[outages.Period, ...]  # from start to end, less the outages
    open: bool  # still in the field: counted up to its latest data (or the range's end)

    @property
    def trap_nights(self) -> int:
        return sum((b - a).days for a, b in self.working)

    @property
    def outage_nights(self) -> int:
        return (self.end - self.start).days - self.trap_nights


@dataclass(frozen=True)
class StationEffort:
    station: Station
    trap_nights: int  # nights with at least one camera working; two cameras do not count twice
    deployments: tuple[DeploymentEffort, ...]
    events: dict[int, int]  # species id -> independent events

    def rate(self, species_id: int | None = None) -> float | None:
        """Independent events per 100 trap-nights, of one species or of all; None without effort."""
        found = self.events.get(species_id, 0) if species_id else sum(self.events.values())
        return per_100(found, self.trap_nights)


@dataclass(frozen=True)
class Effort:
    stations: tuple[StationEffort, ...]
    species: tuple[Species, ...]  # those with events, and the one filtered for
    today: date

    @property
    def trap_nights(self) -> int:
        return sum(s.trap_nights for s in self.stations)

    def events_of(self, species_id: int) -> int:
        return sum(s.events.get(species_id, 0) for s in self.stations)

    def rate(self, species_id: int) -> float | None:
        return per_100(self.events_of(species_id), self.trap_nights)


def per_100(events_found: int, trap_nights: int) -> float | None:
    return round(100 * events_found / trap_nights, 3) if trap_nights else None


def effort(
    session: Session, filters: Filters, options: Options, today: date | None = None
) -> Effort:
    """Trap-nights per deployment and station, clipped to the filters' dates, and independent
    events (of the filtered species and individual) per station and species.

    A deployment from 1 to 11 May is 10 trap-nights; one still open counts until its latest
    photo or sighting (not beyond `today`). The range's days count in full: from 5 to 7 May
    (inclusive) clips it to 5 to 8 May, 3 nights.
    """
    today = today or options.today
    deployments = defaultdict(list)
    for found in _deployment_effort(session, filters, today):
        deployments[found.station_id].append(found)
    starts = events.event_starts(options.minutes, where=filters.conditions(options.timezone))
    s = starts.subquery("starts")
    counted = counts(
        session,
        select(s.c.station_id, s.c.species_id, func.count())
        .join(Species, Species.id == s.c.species_id)
        .where(Species.kind != "blank")
        .group_by(s.c.station_id, s.c.species_id),
    )
    per_station = defaultdict(Counter)
    for (station_id, species_id), n in counted.items():
        per_station[station_id][species_id] = n
    places = tuple(
        StationEffort(
            station,
            outages.union_days(p for d in deployments[station.id] for p in d.working),
            tuple(deployments[station.id]),
            dict(per_station[station.id]),
        )
        for station in stations(session, filters)
        if filters.station_ids or deployments[station.id] or per_station[station.id]
    )
    return Effort(places, _species_of(session, filters, counted), today)


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
        if (high and d.start_date > high) or (low and last < low):
            continue  # outside the range
        start = max(d.start_date, low) if low else d.start_date
        end = min(last, high + timedelta(days=1)) if high else last
        end = max(end, start)
        working = tuple(outages.working_periods(start, end, outages.spans(d)))
        yield DeploymentEffort(d.id, d.station_id, start, end, working, d.end_date is None)


def _species_of(session: Session, filters: Filters, counted: dict) -> tuple[Species, ...]:
    wanted = {species_id for _, species_id in counted}
    if filters.species_id is not None:
        wanted.add(filters.species_id)
    if filters.individual_id is not None:
        wanted.add(session.get(Individual, filters.individual_id).species_id)
    query = select(Species).where(Species.id.in_(wanted)).order_by(Species.id)
    return tuple(session.scalars(query))


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


def _species_fields(species: Species) -> dict:
    return {"scientificName": species.scientific_name, "vernacularName": species.common_name}


def write_effort(session: Session, filters: Filters, out: BinaryIO, options: Options) -> int:
    """Trap-nights and independent events per 100 trap-nights, per station and species."""
    found = effort(session, filters, options)
    return write_csv(out, EFFORT_COLUMNS, [list(effort_rows(found, options))])
