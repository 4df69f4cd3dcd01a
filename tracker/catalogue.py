"""The individual catalogue's list: every known animal with its first and last sighting, its
sightings, independent events and stations, sortable, and flagged when not seen for a while.

One statement for the whole list: events are counted from the kept events (tracker.eventstore),
and first and last seen leave out sightings whose photo time is in doubt, as every figure does.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from tracker import events, eventstore
from tracker.models import (
    Deployment,
    Individual,
    Sighting,
    SightingEvent,
    Species,
)

# The list's sortable columns (`?sort=`), nothing else reaches ORDER BY.
SORTS = ("code", "name", "first", "last", "sightings", "events", "stations")


@dataclass(frozen=True)
class CatalogueEntry:
    """One individual as the catalogue lists it."""

    id: int
    code: str
    name: str
    sex: str
    species: str
    first_seen: datetime | None
    last_seen: datetime | None
    sightings: int
    events: int
    stations: int
    not_seen: bool  # last seen before the cut-off (never-seen animals are not flagged)


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier (the month's last day if it is shorter)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 - months, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def not_seen_cutoff(today: date, not_seen_months: int) -> datetime:
    """Animals last seen before this instant (UTC) are flagged as not seen for a while."""
    return datetime.combine(months_before(today, not_seen_months), time(), tzinfo=UTC)


def trusted(column):
    """The column where the sighting's time is trusted, else NULL: first and last seen leave out
    sightings on photos with a timestamp issue (events.time_trusted), as every figure does."""
    return case((events.time_trusted(), column))


def event_counts(session: Session, minutes: int, groups: eventstore.GroupFilter, *group):
    """Independent events per `group` column(s) (of eventstore.starts), as a subquery: an
    event is counted where it starts."""
    rows = eventstore.starts(session, minutes, groups=groups).subquery("individual_events")
    columns = [rows.c[name] for name in group]
    return (
        select(*columns, func.count().label("events")).group_by(*columns).subquery("event_counts")
    )


def _identified(key: eventstore.Key) -> list:
    return [key.individual_id.is_not(None)]


def entries(
    session: Session,
    *,
    minutes: int,
    not_seen_months: int,
    today: date,
    sort: str = "code",
    descending: bool = False,
) -> list[CatalogueEntry]:
    """Every individual with first and last seen, sightings, independent events and stations
    visited: one aggregate query, sorted in SQL by one of SORTS (unknown keys sort by code)."""
    counted = event_counts(session, minutes, _identified, "individual_id")  # refreshes the kept
    # First and last seen from the kept events: they hold exactly the timed, trusted sightings.
    kept = SightingEvent
    times = (
        select(
            kept.individual_id,
            func.min(kept.event_start).label("first_seen"),
            func.max(kept.event_end).label("last_seen"),
        )
        .where(kept.individual_id.is_not(None))
        .group_by(kept.individual_id)
        .subquery("times")
    )
    every = (
        select(
            Sighting.individual_id,
            func.count(Sighting.id).label("sightings"),
            func.count(Deployment.station_id.distinct()).label("stations"),
        )
        .join(Deployment, Deployment.id == Sighting.deployment_id)
        .where(Sighting.individual_id.is_not(None))
        .group_by(Sighting.individual_id)
        .subquery("every")
    )
    seen = (
        select(every, times.c.first_seen, times.c.last_seen)
        .outerjoin(times, times.c.individual_id == every.c.individual_id)
        .subquery("seen")
    )
    sightings = func.coalesce(seen.c.sightings, 0)
    event_count = func.coalesce(counted.c.events, 0)
    stations = func.coalesce(seen.c.stations, 0)
    keys = {
        "code": func.lower(Individual.code),
        "name": func.lower(Individual.name),
        "first": seen.c.first_seen,
        "last": seen.c.last_seen,
        "sightings": sightings,
        "events": event_count,
        "stations": stations,
    }
    key = keys.get(sort, keys["code"])
    order = []
    if sort in ("first", "last"):
        order.append(key.is_(None))  # never seen: last, whichever the direction
    elif sort == "name":
        order.append(Individual.name == "")  # unnamed: last
    order += [key.desc() if descending else key.asc(), func.lower(Individual.code), Individual.id]
    query = (
        select(
            Individual.id,
            Individual.code,
            Individual.name,
            Individual.sex,
            Species.common_name,
            seen.c.first_seen,
            seen.c.last_seen,
            sightings.label("sightings"),
            event_count.label("events"),
            stations.label("stations"),
        )
        .join(Species, Species.id == Individual.species_id)
        .outerjoin(seen, seen.c.individual_id == Individual.id)
        .outerjoin(counted, counted.c.individual_id == Individual.id)
        .order_by(*order)
    )
    cutoff = not_seen_cutoff(today, not_seen_months)
    return [
        CatalogueEntry(
            id=row.id,
            code=row.code,
            name=row.name,
            sex=row.sex,
            species=row.common_name,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            sightings=row.sightings,
            events=row.events,
            stations=row.stations,
            not_seen=row.last_seen is not None and row.last_seen < cutoff,
        )
        for row in session.execute(query)
    ]


# --- curating the catalogue -------------------------------------------------------------------
