"""Outages: stretches within a deployment when its camera was not working.

A ranger servicing a camera finds the card full since 3 May, the batteries flat, the camera
knocked to the ground: those days it recorded nothing, and effort (trap-nights) and capture-history
usage must not count them as days it watched the trail.

An outage runs from the day the camera stopped to the day it worked again, which is not part of
it, in the deployment's local dates: from 3 to 5 May loses the nights of 3 and 4 May, and the days
3 and 4 May. No end date means it never worked again before the deployment ended (found broken
when it was taken down). Outages of one deployment do not overlap.

Every function takes the session, flushes, and leaves the commit to its caller; bad input raises
InvalidInput before anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker import audit, clock
from tracker.errors import InvalidInput
from tracker.models import Deployment, DeploymentOutage, Image, User

MAX_REASON = 200

Period = tuple[date, date]  # half-open: from the first day to the day after the last


def working_periods(
    start: date, end: date, outages: Iterable[tuple[date, date | None]]
) -> list[Period]:
    """The days from `start` up to `end` (not included) minus the outages' days, as periods.

    An outage without an end runs to `end`. Outages may overlap each other or reach outside.
    """
    periods, reached = [], start
    for since, until in sorted(outages, key=lambda o: o[0]):
        until = end if until is None else until
        if since > reached:
            periods.append((reached, min(since, end)))
        reached = max(reached, until)
        if reached >= end:
            break
    if reached < end:
        periods.append((reached, end))
    return [(a, b) for a, b in periods if b > a]


def camera_days(
    first: date, last: date, outages: Iterable[tuple[date, date | None]]
) -> list[Period]:
    """The trap-night rule, the one effort, capture histories and Camtrap DP all use.

    A camera-day (a trap-night: the two are counted the same) is a local calendar day, in the
    deployment's time zone, from `first` to `last` both included (the set-up and retrieval days
    count whole: photos are taken on them), less the days of its recorded outages. camtrapR counts
    set-up and retrieval as half days, one day less per deployment; see the README's table.
    """
    return working_periods(first, last + timedelta(days=1), outages)


def union_days(periods: Iterable[Period]) -> int:
    """Days covered by at least one of the periods (overlaps count once)."""
    days, reached = 0, None
    for a, b in sorted(periods):
        a = a if reached is None else max(a, reached)
        if b > a:
            days += (b - a).days
            reached = b
    return days


def spans(deployment: Deployment) -> list[tuple[date, date | None]]:
    return [(o.start_date, o.end_date) for o in deployment.outages]


def add_outage(
    session: Session,
    deployment: Deployment,
    start_date: date | None,
    end_date: date | None = None,
    reason: str = "",
    actor: User | None = None,
    today: date | None = None,
) -> DeploymentOutage:
    """Record that the deployment's camera did not work from `start_date` to `end_date`."""
    reason = reason.strip()
    today = today or clock.local_today(deployment.timezone)
    errors = _check(deployment, start_date, end_date, reason, today)
    if errors:
        raise InvalidInput(errors)
    outage = DeploymentOutage(
        deployment=deployment, start_date=start_date, end_date=end_date, reason=reason
    )
    session.add(outage)
    session.flush()
    audit.record(
        session,
        actor,
        "create",
        "deployment_outage",
        outage.id,
        deployment=deployment.id,
        start=str(start_date),
        end=str(end_date) if end_date else None,
        reason=reason,
    )
    return outage


def _check(
    deployment: Deployment, start: date | None, end: date | None, reason: str, today: date
) -> dict[str, str]:
    errors = {}
    if start is None:
        return {"start_date": "Enter the day the camera stopped working (YYYY-MM-DD)."}
    last = deployment.end_date
    if start < deployment.start_date:
        errors["start_date"] = f"The deployment started on {deployment.start_date}."
    elif last is not None and start > last:
        errors["start_date"] = f"The camera was taken down on {last}: no day left to lose."
    elif start > today:
        errors["start_date"] = "That day has not come yet."
    if end is not None and end <= start:
        errors["end_date"] = "The camera works again on a later day than it stopped."
    elif end is not None and last is not None and end > last:
        errors["end_date"] = (
            f"The camera was taken down on {last}; leave the end empty if it never worked again."
        )
    if len(reason) > MAX_REASON:
        errors["reason"] = f"Use at most {MAX_REASON} characters."
    if not errors:
        for other in deployment.outages:
            other_end = other.end_date or date.max
            if start < other_end and (end is None or end > other.start_date):
                until = other.end_date or "the end of the deployment"
                errors["start_date"] = (
                    f"It overlaps the outage recorded from {other.start_date} to {until}."
                )
                break
    return errors


def remove_outage(session: Session, outage: DeploymentOutage, actor: User | None = None) -> None:
    audit.record(
        session,
        actor,
        "delete",
        "deployment_outage",
        outage.id,
        deployment=outage.deployment_id,
        start=str(outage.start_date),
        end=str(outage.end_date) if outage.end_date else None,
        reason=outage.reason,
    )
    outage.deployment.outages.remove(outage)
    session.flush()


def photos_during(session: Session, deployment: Deployment) -> dict[int, int]:
    """Per outage, the photos whose corrected time falls inside it: a sign its dates are wrong."""
    found = {}
    for outage in deployment.outages:
        low = clock.local_day_bounds(outage.start_date, deployment.timezone)
        query = select(func.count(Image.id)).where(
            Image.deployment_id == deployment.id, Image.taken_at_utc >= low
        )
        if outage.end_date is not None:
            high = clock.local_day_bounds(outage.end_date, deployment.timezone)
            query = query.where(Image.taken_at_utc < high)
        found[outage.id] = session.scalar(query) or 0
    return found
