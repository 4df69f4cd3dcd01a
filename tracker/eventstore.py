"""Independent events kept per sighting, exact after every write, for figures over a season.

The event rule (tracker.events) over every sighting takes seconds at a season's size, and every
figure page ran it again after any change (a ranger tagging one photo). The rule only couples the
sightings of one group (station, species, individual), so its result at the default window is kept
in sighting_event, and a write only makes the groups it touches stale:

- database triggers, from any code path, append each such group to sighting_event_dirty
  (migration 7b3e9f1c2a4d lists what they watch);
- `refresh` takes the marked groups off that table and recomputes those groups alone, with the
  same window SQL (tracker.events) restricted to them; many groups at once (an import) recompute
  everything in one statement;
- `starts` answers "where does each independent event start" from the kept rows, refreshed first,
  when that answer is exact: the default window, and conditions that keep or drop whole groups
  (stations, species, individuals). Conditions on single sightings (dates, sex, life stage) change
  which sightings the rule sees, so they keep running the rule on the fly.

`refresh` writes, also in a GET request: the caller commits (tracker.figures does, before it
computes a figure). On PostgreSQL two workers refreshing at once take turns on a transaction-level
advisory lock, so a group is never recomputed twice over itself; SQLite serialises writers anyway.
The marks are taken off first, then the groups recomputed: a write committed after the marks were
taken leaves a new mark for the next refresh, so nothing is lost between the two.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, delete, func, insert, select
from sqlalchemy.orm import Session

from tracker import events
from tracker.models import Deployment, Sighting, SightingEvent, SightingEventDirty

# More groups than this at once (an import, a station's deployments moved) recompute everything in
# one statement: cheaper than that many small ones, and as exact.
GROUPS_ONE_BY_ONE = 64
# pg_advisory_xact_lock's key for refreshing sighting_event (any constant the app uses once).
LOCK_KEY = 7_315_001


class Key(NamedTuple):
    """The columns that name a group, in whichever query they are asked of."""

    station_id: ColumnElement
    species_id: ColumnElement
    individual_id: ColumnElement


# Conditions that keep or drop whole groups, written against a Key's columns.
GroupFilter = Callable[[Key], Iterable[ColumnElement[bool]]]

LIVE = Key(Deployment.station_id, Sighting.species_id, Sighting.individual_id)
KEPT = Key(SightingEvent.station_id, SightingEvent.species_id, SightingEvent.individual_id)


def starts(
    session: Session,
    minutes: int = events.DEFAULT_MINUTES,
    where: Sequence[ColumnElement[bool]] = (),
    groups: GroupFilter | None = None,
) -> Select:
    """events.event_starts's rows (sighting_id, station_id, species_id, individual_id, start):
    from the kept events when they are exact (refreshed first), else by the rule on the fly.

    `where` holds conditions on single sightings (they run the rule on the fly); `groups`
    conditions on a group's station, species or individual.
    """
    if not kept(minutes, where):
        return events.event_starts(minutes, where=[*where, *_chosen(groups, LIVE)])
    refresh(session)
    e = SightingEvent
    return select(
        e.sighting_id, e.station_id, e.species_id, e.individual_id, e.event_start.label("start")
    ).where(e.starts_event == True, *_chosen(groups, KEPT))  # noqa: E712 -- the index's term


def kept(minutes: int, where: Sequence = ()) -> bool:
    """Whether `starts` answers from the kept events (else the rule runs on the fly)."""
    return minutes == events.DEFAULT_MINUTES and not where


def _chosen(groups: GroupFilter | None, key: Key) -> list[ColumnElement[bool]]:
    return [] if groups is None else list(groups(key))


def refresh(session: Session) -> int:
    """Recompute the groups writes have marked since the last refresh; how many there were."""
    if session.scalar(select(SightingEventDirty.id).limit(1)) is None:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    d = SightingEventDirty
    marked = session.execute(delete(d).returning(d.station_id, d.species_id, d.individual_id))
    groups = {(station, species, individual) for station, species, individual in marked}
    if len(groups) > GROUPS_ONE_BY_ONE:
        rebuild(session)
        return len(groups)
    # Every group's old rows out before any new ones in: a sighting that moved from one group
    # to another keeps its id.
    ordered = sorted(groups, key=lambda g: (g[0], g[1], g[2] or 0))
    for group in ordered:
        session.execute(delete(SightingEvent).where(*_one(KEPT, *group)))
    for group in ordered:
        _insert(session, _live(*group))
    return len(groups)


def rebuild(session: Session) -> None:
    """Every group's events again, in one statement."""
    session.execute(delete(SightingEvent))
    _insert(session, ())


def _one(key: Key, station_id: int, species_id: int, individual_id: int | None) -> list:
    """The conditions that pick one group."""
    i = key.individual_id
    individual = i.is_(None) if individual_id is None else i == individual_id
    return [key.station_id == station_id, key.species_id == species_id, individual]


def _live(station_id: int, species_id: int, individual_id: int | None) -> list:
    """One group's sightings, found from its station's deployments (a few thousand sightings):
    species and individual are compared as expressions (`+ 0`), so that no planner walks every
    sighting of a species (or every unidentified one) instead."""
    deployments = select(Deployment.id).where(Deployment.station_id == station_id)
    individual = Sighting.individual_id + 0
    return [
        Sighting.deployment_id.in_(deployments),
        Deployment.station_id == station_id,
        Sighting.species_id + 0 == species_id,
        individual.is_(None) if individual_id is None else individual == individual_id,
    ]


def _insert(session: Session, where) -> None:
    rows = events.sighting_events(events.DEFAULT_MINUTES, where=where).subquery("computed")
    c = rows.c
    columns = ("sighting_id", "event_id", "station_id", "species_id", "individual_id")
    columns += ("event_start", "event_end", "count")
    session.execute(
        insert(SightingEvent).from_select(
            [*columns, "starts_event"],
            select(*(c[name] for name in columns), c.sighting_id == c.event_id),
        )
    )
