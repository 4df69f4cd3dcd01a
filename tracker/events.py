"""Independent events: sightings that are one visit of one animal to one station.

The rule (deterministic, and the same on SQLite and PostgreSQL):
- Sightings are grouped by station, species and individual. Unidentified sightings of a
  species form their own group at a station: an unidentified leopard is never merged into an
  identified one's event, because it may be another cat.
- Within a group, in time order (ties broken by sighting id), a sighting starts a new event
  when it begins more than N minutes after the latest end of all earlier sightings in the group;
  otherwise it joins the current event. Exactly N minutes apart is the same event; identical
  times are the same event. Midnight and a change of deployment at the same station do not
  break an event: the station is the place, whichever camera is there.
- Sightings with no time (a reset clock, until fixed) belong to no event, and so do sightings
  resting on a photo with a timestamp issue (``time_trusted``): their time is not known to be
  true, and one such tag made a leopard "first seen 2002". Every count, map, catalogue date and
  export takes them out by this one rule, until the clock or the dates are fixed.
- An event's id is the id of its first sighting; its count is the largest count seen in it.

It is computed in SQL with window functions, on the fly: there is no stored event state to keep
in step with edits, merges or clock corrections, and maps and exports can aggregate over it.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    Subquery,
    and_,
    case,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from tracker.models import Deployment, Image, Sighting, sighting_image

DEFAULT_MINUTES = 30
# Gaps are compared in floating seconds: a millisecond of rounding must not split an event
# whose sightings are exactly N minutes apart.
TOLERANCE_S = 0.001


class epoch_seconds(FunctionElement):
    """Seconds since 1970 of a stored (naive UTC) timestamp, on each backend."""

    type = Float()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    return f"EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})"


def time_trusted() -> ColumnElement[bool]:
    """Sightings whose time can be used: they have one, and none of their photos has a
    timestamp issue (no usable time, outside the deployment, a time skipped or repeated at a
    clock change). The rule every figure, map, catalogue date and export applies."""
    flagged = (
        select(sighting_image.c.sighting_id)
        .join(Image, Image.id == sighting_image.c.image_id)
        .where(sighting_image.c.sighting_id == Sighting.id, Image.timestamp_issue.is_not(None))
    )
    return and_(Sighting.event_start.is_not(None), ~exists(flagged))


def _ordered(where) -> Subquery:
    """Timed sightings with the latest end of the earlier ones in their group.

    The window is computed once here and tested in the queries above it: SQLite would evaluate
    it again for every mention.
    """
    group = (Deployment.station_id, Sighting.species_id, Sighting.individual_id)
    order = (Sighting.event_start, Sighting.id)
    latest_before = func.max(Sighting.event_end).over(
        partition_by=group, order_by=order, rows=(None, -1)
    )
    return (
        select(
            Sighting.id.label("sighting_id"),
            Deployment.station_id,
            Sighting.species_id,
            Sighting.individual_id,
            Sighting.event_start,
            Sighting.event_end,
            Sighting.count,
            latest_before.label("latest_before"),
        )
        .join(Deployment, Deployment.id == Sighting.deployment_id)
        .where(time_trusted(), *where)
        .subquery("ordered")
    )


def _starts_event(c, minutes: int) -> ColumnElement[bool]:
    """The rule: first of its group, or more than N minutes after the latest earlier end."""
    gap = epoch_seconds(c.event_start) - epoch_seconds(c.latest_before)
    return or_(c.latest_before.is_(None), gap > minutes * 60 + TOLERANCE_S)


def event_starts(minutes: int = DEFAULT_MINUTES, where=()) -> Select:
    """One row per independent event, from the sighting that starts it: sighting_id (= the
    event's id), station_id, species_id, individual_id and start.

    Counting events needs only where each starts: one window, about a third of the cost of
    numbering every sighting's event (what the dashboard counts on 100,000 sightings).
    """
    c = _ordered(where).c
    return select(
        c.sighting_id, c.station_id, c.species_id, c.individual_id, c.event_start.label("start")
    ).where(_starts_event(c, minutes))


def sighting_events(minutes: int = DEFAULT_MINUTES, where=()) -> Select:
    """One row per timed sighting: sighting_id, station_id, species_id, individual_id,
    event_start, event_end, count and event_id (the id of the event's first sighting).

    `where` holds extra conditions on Sighting/Deployment (species, dates, stations...).
    """
    c = _ordered(where).c
    flagged = select(
        c.sighting_id,
        c.station_id,
        c.species_id,
        c.individual_id,
        c.event_start,
        c.event_end,
        c.count,
        case((_starts_event(c, minutes), 1), else_=0).label("starts_event"),
    ).subquery("flagged")
    return _numbered(flagged)


def _numbered(flagged) -> Select:
    c = flagged.c
    group = (c.station_id, c.species_id, c.individual_id)
    order = (c.event_start, c.sighting_id)
    event_no = func.sum(c.starts_event).over(partition_by=group, order_by=order, rows=(None, 0))
    numbered = select(*c, event_no.label("event_no")).subquery("numbered")
    n = numbered.c
    first = func.first_value(n.sighting_id).over(
        partition_by=(n.station_id, n.species_id, n.individual_id, n.event_no),
        order_by=(n.event_start, n.sighting_id),
    )
    return select(
        n.sighting_id,
        n.station_id,
        n.species_id,
        n.individual_id,
        n.event_start,
        n.event_end,
        n.count,
        first.label("event_id"),
    )


def events(minutes: int = DEFAULT_MINUTES, where=()) -> Select:
    """One row per independent event: event_id, station_id, species_id, individual_id, start,
    end, count (the largest in the event) and sightings (how many it joins)."""
    rows = sighting_events(minutes, where).subquery("sighting_events")
    c = rows.c
    return select(
        c.event_id,
        c.station_id,
        c.species_id,
        c.individual_id,
        func.min(c.event_start).label("start"),
        func.max(c.event_end).label("end"),
        func.max(c.count).label("count"),
        func.count().label("sightings"),
    ).group_by(c.event_id, c.station_id, c.species_id, c.individual_id)
