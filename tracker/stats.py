"""Counts and summaries for the dashboard; aggregate queries, never loops over rows.

Years and months are the park's (a local time zone, Asia/Vladivostok by default): a leopard
photographed at 20:00 UTC on 31 December was seen on 1 January, local time. The database stores
naive UTC, and SQLite knows no time zones, so the zone's UTC offsets over the span of the data are
worked out here in Python (zoneinfo, the one source of truth on both backends) and each time is
shifted by its offset in SQL before it is cut to a year or a month. Only the grouped rows come
back: dozens, whatever the number of sightings.

Sightings with no time (a reset clock, until fixed), or resting on a photo with a timestamp issue
(events.time_trusted), are left out of every time-based figure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Integer,
    String,
    case,
    false,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.sql.functions import FunctionElement

from tracker import events, eventstore
from tracker.config import DEFAULT_TIMEZONE
from tracker.models import (
    LEOPARD,
    Deployment,
    Image,
    ImageCount,
    Individual,
    Sighting,
    SightingEvent,
    Species,
    Station,
)


@dataclass(frozen=True)
class Overview:
    images: int
    sightings: int
    individuals: int
    stations: int
    events: int  # independent events of every species (timed sightings only)
    leopard_events: int  # independent events of Amur leopards, identified or not


@dataclass(frozen=True)
class YearFigures:
    """One year of the leopard population, in the park's time zone."""

    year: int
    # Distinct identified leopards with a sighting that year: the minimum number known alive.
    individuals: int
    # Identified leopards whose first timed sighting ever falls in that year.
    new: int
    # Distinct identified leopards seen as a cub (a sighting with life stage "cub") that year.
    cubs: int
    # Independent events of cubs no one could identify: not animals, as one cub may be seen often.
    unidentified_cub_events: int
    # Independent events of leopards, identified or not.
    leopard_events: int


@dataclass(frozen=True)
class Population:
    """Per year, every year from the first to the last timed sighting (of any species), and
    independent leopard events per month over the same span, months without any included."""

    years: tuple[YearFigures, ...]
    months: tuple[tuple[str, int], ...]  # ("YYYY-MM", events)


@dataclass(frozen=True)
class Dashboard:
    overview: Overview
    population: Population


def overview(session: Session, minutes: int = events.DEFAULT_MINUTES) -> Overview:
    starts = eventstore.starts(session, minutes).subquery("starts")
    leopard = _leopard_id(session)
    is_leopard = false() if leopard is None else starts.c.species_id == leopard
    leopards = func.coalesce(func.sum(case((is_leopard, 1), else_=0)), 0)
    all_events, leopard_events = session.execute(
        select(func.count(), leopards).select_from(starts)
    ).one()
    return _overview(session, all_events, leopard_events)


def _overview(session: Session, all_events: int, leopard_events: int) -> Overview:
    def count(model) -> int:
        return session.scalar(select(func.count()).select_from(model)) or 0

    # Photos from the counts the database keeps per deployment: a million rows are not counted.
    images = session.scalar(select(func.coalesce(func.sum(ImageCount.images), 0)))
    return Overview(
        images, count(Sighting), count(Individual), count(Station), all_events, leopard_events
    )


def latest_uploads(session: Session, limit: int = 10) -> list[Image]:
    query = (
        select(Image)
        .options(
            joinedload(Image.deployment).joinedload(Deployment.station),
            joinedload(Image.uploaded_by),
        )
        .order_by(Image.uploaded_at.desc(), Image.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


# --- the leopard population ----------------------------------------------------------------------


def population(
    session: Session, minutes: int = events.DEFAULT_MINUTES, timezone: str = DEFAULT_TIMEZONE
) -> Population:
    """The leopard population per year and independent leopard events per month."""
    leopard, local = _leopard_id(session), _local_time(session, timezone)
    if leopard is None or local is None:
        return Population((), ())
    months = _events_per_month(session, minutes, local, leopard)
    return _population(session, minutes, local, leopard, months)


def leopard_events_per_month(
    session: Session, minutes: int = events.DEFAULT_MINUTES, timezone: str = DEFAULT_TIMEZONE
) -> list[tuple[str, int]]:
    """Independent leopard events per local month ("YYYY-MM", n), from the month of the first
    timed sighting of any species to that of the last, months without leopards included."""
    leopard, local = _leopard_id(session), _local_time(session, timezone)
    if leopard is None or local is None:
        return []
    return _events_per_month(session, minutes, local, leopard)


def dashboard(
    session: Session, minutes: int = events.DEFAULT_MINUTES, timezone: str = DEFAULT_TIMEZONE
) -> Dashboard:
    """The overview and the population together, as the dashboard shows them: one pass of the
    event rule over all sightings gives both the events of every species and the leopards'."""
    leopard, local = _leopard_id(session), _local_time(session, timezone)
    if leopard is None or local is None:
        return Dashboard(overview(session, minutes), Population((), ()))
    all_events, leopard_events, months = _event_totals(session, minutes, local, leopard)
    totals = _overview(session, all_events, leopard_events)
    return Dashboard(totals, _population(session, minutes, local, leopard, months))


def _event_totals(session: Session, minutes: int, local: _LocalTime, leopard: int) -> tuple:
    """(events of every species, leopard events, leopard events per month)."""
    starts = eventstore.starts(session, minutes).subquery("starts")
    if eventstore.kept(minutes):
        # Kept events: all of them counted, the leopards' grouped by month, two index walks.
        all_events = session.scalar(select(func.count()).select_from(starts))
        months = _events_per_month(session, minutes, local, leopard)
        return all_events, sum(n for _, n in months), months
    # On the fly, one pass of the rule gives both; other species' months are not worked out.
    leopard_month = case((starts.c.species_id == leopard, local.month(starts.c.start)), else_=None)
    found = _grouped(session, leopard_month, starts)
    all_events = sum(found.values())
    months = [(month, found.get(month, 0)) for month in local.months()]
    return all_events, all_events - found.get(None, 0), months


def _population(
    session: Session,
    minutes: int,
    local: _LocalTime,
    leopard: int,
    months: list[tuple[str, int]],
) -> Population:
    is_leopard = Sighting.species_id == leopard
    cub = Sighting.life_stage == literal_column("'cub'")  # a literal: ix_sighting_cubs is for it
    # The local years each identified leopard was seen in, from the kept events (timed, trusted
    # sightings only: _local_time brought them up to date), and those it was seen in as a cub.
    kept = SightingEvent
    year = local.year(kept.event_start).label("year")
    seen = select(year, kept.individual_id).where(
        kept.species_id == leopard, kept.individual_id.is_not(None)
    )
    as_cub = (
        select(year, kept.individual_id)
        .join(Sighting, Sighting.id == kept.sighting_id)
        .where(is_leopard, cub, Sighting.individual_id.is_not(None))
    )
    detected, cubs, first_year = Counter(), Counter(), {}
    for year_text, individual in session.execute(seen.distinct()):
        seen_in = int(year_text)
        detected[seen_in] += 1
        first_year[individual] = min(seen_in, first_year.get(individual, seen_in))
    for year_text, _individual in session.execute(as_cub.distinct()):
        cubs[int(year_text)] += 1
    new = Counter(first_year.values())

    unidentified_cubs = events.event_starts(
        minutes, where=(is_leopard, Sighting.individual_id.is_(None), cub)
    ).subquery("cub_events")
    cub_events = _grouped(session, local.year(unidentified_cubs.c.start), unidentified_cubs)
    leopard_events = Counter()
    for month, n in months:
        leopard_events[int(month[:4])] += n

    years = tuple(
        YearFigures(
            year=y,
            individuals=detected[y],
            new=new[y],
            cubs=cubs[y],
            unidentified_cub_events=cub_events.get(str(y), 0),
            leopard_events=leopard_events[y],
        )
        for y in range(local.first.year, local.last.year + 1)
    )
    return Population(years, tuple(months))


def _events_per_month(
    session: Session, minutes: int, local: _LocalTime, species_id: int
) -> list[tuple[str, int]]:
    def of_species(key: eventstore.Key) -> list:
        return [key.species_id == species_id]

    starts = eventstore.starts(session, minutes, groups=of_species).subquery("starts")
    found = _grouped(session, local.month(starts.c.start), starts)
    return [(month, found.get(month, 0)) for month in local.months()]


def _leopard_id(session: Session) -> int | None:
    return session.scalar(select(Species.id).where(Species.scientific_name == LEOPARD))


def _local_time(session: Session, timezone: str) -> _LocalTime | None:
    """Local years and months over the span of the timed sightings; None if there are none.

    From the kept events (the timed, trusted sightings, whatever the window), refreshed first."""
    eventstore.refresh(session)
    kept = SightingEvent.event_start
    # Two subqueries: SQLite reads a min or a max off the index, not both in one.
    first, last = session.execute(
        select(select(func.min(kept)).scalar_subquery(), select(func.max(kept)).scalar_subquery())
    ).one()
    return None if first is None else _LocalTime(ZoneInfo(timezone), first, last)


def _grouped(session: Session, key: ColumnElement, source) -> dict:
    """{key: rows} over `source`. The key is labelled in a subquery and grouped outside it:
    PostgreSQL does not see two copies of an expression with bound parameters as one."""
    keyed = select(key.label("key")).select_from(source).subquery("keyed")
    return dict(session.execute(select(keyed.c.key, func.count()).group_by(keyed.c.key)).all())


# --- counting independent events ----------------------------------------------------------------


# --- local years and months in SQL ---------------------------------------------------------------


class _LocalTime:
    """Cuts stored UTC times to local years and months in SQL, for times within a span.

    The zone's offsets are found in Python for the span (a handful: none change in Vladivostok
    since 2014, two a year where clocks change for summer), and become a CASE in SQL.
    """

    def __init__(self, zone: ZoneInfo, first: datetime, last: datetime):
        self.first, self.last = first.astimezone(zone), last.astimezone(zone)
        self.offsets = utc_offsets(zone, first, last)

    def shift(self, moment: ColumnElement) -> ColumnElement:
        """The UTC offset in seconds at `moment`: the last one in force before it."""
        (_, initial), *changes = self.offsets
        if not changes:
            return literal(initial, Integer)
        whens = []
        previous = initial
        for since, offset in changes:
            whens.append((moment < since, previous))
            previous = offset
        return case(*whens, else_=previous)

    def year(self, moment: ColumnElement) -> ColumnElement:
        return local_year(moment, self.shift(moment))

    def month(self, moment: ColumnElement) -> ColumnElement:
        return local_month(moment, self.shift(moment))

    def months(self) -> list[str]:
        """Every month of the span, "YYYY-MM", first to last."""
        year, month = self.first.year, self.first.month
        found = []
        while (year, month) <= (self.last.year, self.last.month):
            found.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found


def utc_offsets(zone: ZoneInfo, first: datetime, last: datetime) -> list[tuple[datetime, int]]:
    """[(since, offset in seconds)]: the zone's UTC offset at `first`, then each change up to
    `last`, found to the second (zones change at most a few times a year; never twice in 12h)."""

    def offset(epoch: int) -> int:
        moment = datetime.fromtimestamp(epoch, UTC).astimezone(zone)
        return int(moment.utcoffset().total_seconds())

    start, end = int(first.timestamp()), int(last.timestamp()) + 1
    found = [(datetime.fromtimestamp(start, UTC), offset(start))]
    step = int(timedelta(hours=12).total_seconds())
    t = start
    while t < end:
        following = min(t + step, end)
        if offset(following) != found[-1][1]:
            before, after = t, following  # the change is in (before, after]
            while after - before > 1:
                middle = (before + after) // 2
                if offset(middle) == found[-1][1]:
                    before = middle
                else:
                    after = middle
            found.append((datetime.fromtimestamp(after, UTC), offset(after)))
        t = following
    return found


class _local_period(FunctionElement):
    """A stored (naive UTC) time shifted by a number of seconds and cut to a period, as text."""

    type = String()
    inherit_cache = True


class local_year(_local_period):
    """ "YYYY" of (time, shift in seconds)."""

    inherit_cache = True


class local_month(_local_period):
    """ "YYYY-MM" of (time, shift in seconds)."""

    inherit_cache = True


_SQLITE_FORMATS = {local_year: "%Y", local_month: "%Y-%m"}
_POSTGRESQL_FORMATS = {local_year: "YYYY", local_month: "YYYY-MM"}


@compiles(local_year, "sqlite")
@compiles(local_month, "sqlite")
def _local_sqlite(element, compiler, **kw):
    moment, shift = (compiler.process(c, **kw) for c in element.clauses.clauses)
    cut = _SQLITE_FORMATS[type(element)]
    return f"strftime('{cut}', {moment}, ({shift}) || ' seconds')"


@compiles(local_year, "postgresql")
@compiles(local_month, "postgresql")
def _local_postgresql(element, compiler, **kw):
    moment, shift = (compiler.process(c, **kw) for c in element.clauses.clauses)
    cut = _POSTGRESQL_FORMATS[type(element)]
    return f"to_char({moment} + ({shift}) * INTERVAL '1 second', '{cut}')"
