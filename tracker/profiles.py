"""One individual's profile: its figures, reference photos, stations and a page of its sightings.

The figures (sightings, independent events, first and last seen, stations visited) run the event
rule over the animal's sightings: `summary` returns them as plain data, which the page caches by
data version (tracker.figures). The timeline is one page of sightings at a time, newest first,
with an "older" cursor (keyset pagination, as the image list): however many sightings a leopard
has, a page sends TIMELINE_LIMIT of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from tracker import eventstore
from tracker.catalogue import event_counts, trusted
from tracker.models import (
    FLANKS,
    Deployment,
    Image,
    Individual,
    IndividualCode,
    Sighting,
    Station,
    individual_reference_image,
)

# The sightings a page of the timeline lists.
TIMELINE_LIMIT = 50
UNTIMED = "none"  # the cursor's time for sightings with no time yet (listed last)


@dataclass(frozen=True)
class StationVisits:
    station_id: int
    code: str
    name: str
    sightings: int
    events: int
    first_seen: datetime | None
    last_seen: datetime | None


@dataclass(frozen=True)
class Summary:
    """An animal's figures over all its sightings: plain data, cacheable."""

    sightings: int
    events: int
    first_seen: datetime | None
    last_seen: datetime | None
    stations: tuple[StationVisits, ...] = ()


@dataclass
class Profile:
    individual: Individual
    former_codes: list[IndividualCode]  # newest first
    references: dict[str, Image]  # flank -> the chosen photo
    other_references: list[Image]  # reference photos with no flank (kept from a merge)
    timeline: list[Sighting]  # newest first, one page; untimed ones last
    summary: Summary
    older: str | None = None  # the cursor of the next page, None on the last
    before: str | None = None  # this page's cursor, None on the first (the newest)
    stations: list[StationVisits] = field(default_factory=list)

    @property
    def sightings(self) -> int:
        return self.summary.sightings

    @property
    def events(self) -> int:
        return self.summary.events

    @property
    def first_seen(self) -> datetime | None:
        return self.summary.first_seen

    @property
    def last_seen(self) -> datetime | None:
        return self.summary.last_seen

    @property
    def complete(self) -> bool:
        """Whether this one page lists every sighting."""
        return self.before is None and self.older is None


def summary(session: Session, individual_id: int, minutes: int) -> Summary:
    """Sightings, independent events, first and last seen (trusted times only) and stations."""
    mine = Sighting.individual_id == individual_id
    totals = session.execute(
        select(
            func.count(Sighting.id),
            func.min(trusted(Sighting.event_start)),
            func.max(trusted(Sighting.event_end)),
        ).where(mine)
    ).one()

    def its_groups(key: eventstore.Key) -> list:
        return [key.individual_id == individual_id]

    stations = _stations_visited(session, mine, minutes, its_groups)
    # Every event is at one of the stations it visited: its events are theirs added up.
    event_total = sum(s.events for s in stations)
    return Summary(totals[0], event_total, totals[1], totals[2], stations)


def _stations_visited(
    session: Session, mine, minutes: int, groups: eventstore.GroupFilter
) -> tuple[StationVisits, ...]:
    seen = (
        select(
            Deployment.station_id,
            func.count(Sighting.id).label("sightings"),
            func.min(trusted(Sighting.event_start)).label("first_seen"),
            func.max(trusted(Sighting.event_end)).label("last_seen"),
        )
        .join(Deployment, Deployment.id == Sighting.deployment_id)
        .where(mine)
        .group_by(Deployment.station_id)
        .subquery("seen_at")
    )
    counted = event_counts(session, minutes, groups, "station_id")
    rows = session.execute(
        select(
            Station.id,
            Station.code,
            Station.name,
            seen.c.sightings,
            func.coalesce(counted.c.events, 0).label("events"),
            seen.c.first_seen,
            seen.c.last_seen,
        )
        .join(seen, seen.c.station_id == Station.id)
        .outerjoin(counted, counted.c.station_id == Station.id)
        .order_by(seen.c.sightings.desc(), Station.code)
    )
    return tuple(StationVisits(*row) for row in rows)


def parse_cursor(text: str | None) -> tuple[datetime | None, int] | None:
    """`TIME_ID` (naive ISO time in UTC, or `none` for untimed sightings) as (time, id); None
    if it is not one."""
    if not text or "_" not in text:
        return None
    when, _, ident = text.rpartition("_")
    try:
        number = int(ident)
        moment = None if when == UNTIMED else datetime.fromisoformat(when)
    except ValueError:
        return None
    if not 0 < number < 2**31 or (moment is not None and moment.tzinfo is not None):
        return None
    return (moment.replace(tzinfo=UTC) if moment else None), number


def cursor_of(sighting: Sighting) -> str:
    start = sighting.event_start
    when = UNTIMED if start is None else start.astimezone(UTC).replace(tzinfo=None).isoformat()
    return f"{when}_{sighting.id}"


def _older_than(cursor: tuple[datetime | None, int]):
    """Sightings after the cursor in the timeline's order (newest first, untimed last)."""
    moment, ident = cursor
    if moment is None:
        return and_(Sighting.event_start.is_(None), Sighting.id < ident)
    return or_(
        Sighting.event_start < moment,
        and_(Sighting.event_start == moment, Sighting.id < ident),
        Sighting.event_start.is_(None),
    )


def profile(
    session: Session,
    individual: Individual,
    found: Summary,
    before: str | None = None,
    limit: int | None = None,
) -> Profile:
    """What the catalogue knows of one animal: its summary, history, reference photos and one
    page of sightings, newest first, from `before` (a cursor; an unknown one: the newest)."""
    limit = limit or TIMELINE_LIMIT
    cursor = parse_cursor(before)
    timeline = (
        select(Sighting)
        .where(Sighting.individual_id == individual.id)
        .options(
            selectinload(Sighting.images),
            joinedload(Sighting.deployment).joinedload(Deployment.station),
        )
        .order_by(Sighting.event_start.is_(None), Sighting.event_start.desc(), Sighting.id.desc())
        .limit(limit + 1)
    )
    if cursor is not None:
        timeline = timeline.where(_older_than(cursor))
    page = list(session.scalars(timeline))
    older = cursor_of(page[limit - 1]) if len(page) > limit else None
    references: dict[str, Image] = {}
    others: list[Image] = []
    for image, flank in session.execute(
        select(Image, individual_reference_image.c.flank)
        .join(individual_reference_image, individual_reference_image.c.image_id == Image.id)
        .where(individual_reference_image.c.individual_id == individual.id)
        .order_by(Image.id)
    ):
        if flank in FLANKS:
            references[flank] = image
        else:
            others.append(image)
    former = session.scalars(
        select(IndividualCode)
        .where(IndividualCode.individual_id == individual.id)
        .order_by(IndividualCode.replaced_at.desc(), IndividualCode.id.desc())
    ).all()
    return Profile(
        individual=individual,
        former_codes=list(former),
        references=references,
        other_references=others,
        timeline=page[:limit],
        summary=found,
        older=older,
        before=before if cursor is not None else None,
        stations=list(found.stations),
    )
