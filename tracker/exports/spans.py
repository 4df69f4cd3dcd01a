"""The periods cameras ran, as the exports count them: deployments clipped to the chosen dates.

A deployment runs from its start date to its end date (local days, both included); one still in
the field runs until the day of its latest photo or sighting (`known_until`): what happened at
the camera since is not in the tracker yet. Sightings dated outside their deployment (a camera
clock to fix) are found here so each export can leave them out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from tracker import clock, outages
from tracker.exports.core import Filters, Options
from tracker.models import Deployment, Image, Sighting, Station

ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class Span:
    """A deployment as exported: local dates (inclusive), clipped to the export's dates."""

    deployment: Deployment
    first: date
    last: date
    running: bool  # still deployed: `last` is the day of its latest photo or sighting

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.deployment.timezone)

    @cached_property
    def period(self) -> tuple[datetime, datetime | None]:
        """The whole deployment, unclipped, in UTC: a photo outside it has a wrong time."""
        return clock.period_utc(self.deployment)

    @cached_property
    def start(self) -> datetime:
        return clock.local_day_bounds(self.first, self.deployment.timezone)

    @cached_property
    def end(self) -> datetime:
        """The last whole second of the last day."""
        return clock.local_day_bounds(self.last + timedelta(days=1), self.deployment.timezone) - (
            ONE_SECOND
        )

    @cached_property
    def pieces(self) -> list[Piece]:
        """The deployment's camera-days (tracker.outages.camera_days) as Camtrap DP deployments:
        one, named D<id>, without outages; split around them otherwise (D<id>-1, D<id>-2 ...),
        the standard's way of saying a camera did not work, which readers count effort from."""
        dep_id, tz = self.deployment.id, self.deployment.timezone
        periods = outages.camera_days(self.first, self.last, outages.spans(self.deployment))
        whole = periods == [(self.first, self.last + timedelta(days=1))]
        return [
            Piece(
                f"D{dep_id}" if whole else f"D{dep_id}-{n}",
                clock.local_day_bounds(a, tz),
                clock.local_day_bounds(b, tz) - ONE_SECOND,
            )
            for n, (a, b) in enumerate(periods, 1)
        ]

    def piece_at(self, moment: datetime) -> Piece | None:
        """The piece a moment falls in; None during an outage (or outside the export)."""
        moment = moment.replace(microsecond=0)
        return next((p for p in self.pieces if p.start <= moment <= p.end), None)


@dataclass(frozen=True)
class Piece:
    """A stretch of a deployment with its camera working: a Camtrap DP deployment."""

    deployment_id: str
    start: datetime  # local midnight of the first day, in UTC
    end: datetime  # the last whole second of the last day


def deployment_spans(session: Session, filters: Filters) -> list[Span]:
    """Deployments at the chosen stations that ran during the chosen dates, by station code."""
    query = (
        select(Deployment)
        .join(Station)
        .options(
            joinedload(Deployment.station),
            joinedload(Deployment.camera),
            selectinload(Deployment.outages),
        )
        .order_by(Station.code, Deployment.start_date, Deployment.id)
    )
    if filters.station_ids:
        query = query.where(Deployment.station_id.in_(filters.station_ids))
    if filters.date_to:
        query = query.where(Deployment.start_date <= filters.date_to)
    if filters.date_from:
        query = query.where(
            or_(Deployment.end_date.is_(None), Deployment.end_date >= filters.date_from)
        )
    deployments = session.scalars(query).all()
    known = known_until(session, deployments)
    spans = []
    for dep in deployments:
        last = dep.end_date or known[dep.id]
        first = max(dep.start_date, filters.date_from or dep.start_date)
        last = min(last, filters.date_to or last)
        if first <= last:
            spans.append(Span(dep, first, last, dep.end_date is None))
    return spans


def sighting_conditions(
    filters: Filters, options: Options, deployment_ids: list[int], *, dates: bool = True
) -> list:
    """Conditions on Sighting for the filters: species, individual, dates, exported deployments.

    Public exports leave people and vehicles out (tracker.public)."""
    where = [Sighting.deployment_id.in_(deployment_ids)]
    where += options.shown()
    # Stations are already in the choice of deployments.
    return where + filters.conditions(options.timezone, stations=False, dates=dates)


def misdated_sightings(session: Session, where: list, spans: Iterable[Span]) -> set[int]:
    """Timed sightings that lie outside their deployment's period (a camera clock to fix)."""
    periods = {s.deployment.id: s.period for s in spans}
    query = select(
        Sighting.id, Sighting.deployment_id, Sighting.event_start, Sighting.event_end
    ).where(Sighting.event_start.is_not(None), *where)
    # In batches: every timed sighting of a season passes here (all at once: 140 MB at 300,000).
    rows = session.execute(query.execution_options(yield_per=10_000))
    bad = set()
    for sid, dep_id, start, end in rows:
        first, after = periods[dep_id]
        if start < first or (after is not None and end >= after):
            bad.add(sid)
    return bad


def known_until(session: Session, deployments: list[Deployment]) -> dict[int, date]:
    """The last day each open deployment's data reaches: the local day of its latest photo or
    sighting (the last card brought in), or its start day when nothing came in yet.

    What happened at the camera since then is not in the tracker yet, so exports and effort end
    an open deployment there rather than today.
    """
    open_ones = {d.id: d for d in deployments if d.end_date is None}
    latest: dict[int, datetime] = {}
    # One subquery per deployment and table: each reads its max off an index (deployment, time)
    # where the index has it, instead of every photo of the open deployments (a million).
    photo = select(func.max(Image.taken_at_utc)).where(Image.deployment_id == Deployment.id)
    sighting = select(func.max(Sighting.event_end)).where(Sighting.deployment_id == Deployment.id)
    rows = session.execute(
        select(Deployment.id, photo.scalar_subquery(), sighting.scalar_subquery()).where(
            Deployment.id.in_(open_ones)
        )
    )
    for dep_id, *moments in rows:
        found = [m for m in moments if m is not None]
        if found:
            latest[dep_id] = max(found)
    return {
        dep_id: max(d.start_date, latest[dep_id].astimezone(ZoneInfo(d.timezone)).date())
        if dep_id in latest
        else d.start_date
        for dep_id, d in open_ones.items()
    }
