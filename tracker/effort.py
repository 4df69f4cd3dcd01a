"""Camera effort and relative abundance: trap-nights, and independent events per 100 trap-nights.

A deployment's trap-nights run from its start date to its end date (1 to 11 May is 10 nights); one
still in the field counts until the day of its latest photo or sighting, the last card brought in
(tracker.fieldwork.known_until): the nights since are not in the tracker yet, and counting them
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

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from tracker import clock, events, fieldwork, outages
from tracker.export import Filters, Options
from tracker.export_tables import counts, stations
from tracker.models import Deployment, Individual, Species, Station


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


def local_today(timezone: str) -> date:
    """Today in the park: no effort counts beyond it (tests replace it)."""
    return clock.local_today(timezone)


def effort(
    session: Session, filters: Filters, options: Options, today: date | None = None
) -> Effort:
    """Trap-nights per deployment and station, clipped to the filters' dates, and independent
    events (of the filtered species and individual) per station and species.

    A deployment from 1 to 11 May is 10 trap-nights; one still open counts until its latest
    photo or sighting (not beyond `today`). The range's days count in full: from 5 to 7 May
    (inclusive) clips it to 5 to 8 May, 3 nights.
    """
    today = today or local_today(options.timezone)
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
    known = fieldwork.known_until(session, deployments)
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
