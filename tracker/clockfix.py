"""Camera clocks after the fact: correct a deployment's clock.

A camera's clock is set by hand in the forest, and it drifts, resets to 2000 or 1970 after a
battery change, or is set to 9 PM instead of 9 AM. What the camera wrote (``taken_at_raw``) is
never changed; a correction only changes the deployment's ``clock_offset_s`` (seconds added to
every camera time) and recomputes from the raw text, with ``tracker.clock``, every image's
corrected time and timestamp issue and every sighting's event start and end. Pure domain: no
Flask. Functions flush and leave the commit to their caller.

Two ways to say what the correction is:

* a fixed offset, as seconds ("-300") or as a signed duration ("+01:30:00", "-00:05:00");
* a time-check photo: a photo of the deployment that shows the true time (a phone's clock, a
  ranger's watch), with that true local time in the deployment's time zone. The offset is the
  true local time minus the camera's time.

A correction that moves images by more than ``LARGE_SHIFT_S`` (a year), or that puts images more
than ``FAR_FROM_PERIOD_S`` outside the deployment period (and a day or more farther than they
are now), is only applied when confirmed: ``set_clock_offset`` raises ``NeedsConfirmation`` and
writes nothing. Reading and describing offsets is tracker.clockoffsets.
The timestamp report that suggests corrections is in ``tracker.timestamps``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from tracker import audit, clock
from tracker.clockoffsets import (
    DAY_S,
    camera_time,
    check_offset,
    describe_duration,
    format_offset,
)
from tracker.errors import InvalidInput
from tracker.exif import EARLIEST_PLAUSIBLE, FUTURE_SLACK
from tracker.models import Deployment, Image, Sighting, User, sighting_image

LARGE_SHIFT_S = 365 * DAY_S
FAR_FROM_PERIOD_S = 365 * DAY_S
MAX_REASON = 500
WRITE_BATCH = 1000


class NeedsConfirmation(InvalidInput):
    """A correction large enough that it must be confirmed; nothing was written."""

    def __init__(self, preview: Preview):
        self.preview = preview
        message = " ".join(preview.warnings) + " Tick “confirm” to apply it anyway."
        super().__init__({"confirm": message})


# ---------------------------------------------------------------------------------------------
# Recomputing times


class _Corrector:
    """Corrected UTC time and timestamp issue of an image, under one clock correction."""

    def __init__(self, deployment: Deployment, offset_s: int):
        self.tz_name = deployment.timezone
        self.offset_s = offset_s
        self.period = clock.period_utc(deployment)
        self.latest = datetime.now() + FUTURE_SLACK  # as exif.py judges "in the future"

    def times(
        self, raw: str | None, utc_offset: str | None, parsed=None
    ) -> tuple[datetime | None, str | None]:
        camera, problem = parsed or camera_time(raw)
        utc = None
        if camera is not None:
            utc, problem = self._corrected(camera, raw, utc_offset)
        return utc, clock.timestamp_issue(utc, self.period, problem)

    def _corrected(self, camera: datetime, raw: str, utc_offset: str | None):
        try:
            local = camera + timedelta(seconds=self.offset_s)
            if local < EARLIEST_PLAUSIBLE:
                return None, f"date before {EARLIEST_PLAUSIBLE.year} ({raw})"
            if local > self.latest:
                return None, f"date in the future ({raw})"
            when = (camera, utc_offset, self.tz_name, self.offset_s)
            return clock.corrected_utc(*when), clock.wall_time_problem(*when)
        except (OverflowError, ValueError):
            return None, f"impossible date ({raw})"


def _plausible_walls(walls: Iterable[datetime], offset_s: int) -> list[datetime]:
    """Camera wall times moved by a correction, keeping those that would have a time."""
    latest = datetime.now() + FUTURE_SLACK
    shift = timedelta(seconds=offset_s)
    moved = []
    for wall in walls:
        try:
            local = wall + shift
        except OverflowError:
            continue
        if EARLIEST_PLAUSIBLE <= local <= latest:
            moved.append(local)
    return moved


def _farthest_outside(deployment: Deployment, walls: Sequence[datetime], offset_s: int):
    """(seconds, side) of the image farthest outside the period under a correction, or None."""
    moved = _plausible_walls(walls, offset_s)
    if not moved:
        return None
    start = datetime.combine(deployment.start_date, datetime.min.time())
    before = (start - min(moved)).total_seconds()
    after = -math.inf
    if deployment.end_date is not None:
        end = datetime.combine(deployment.end_date + timedelta(days=1), datetime.min.time())
        after = (max(moved) - end).total_seconds()
    if max(before, after) <= 0:
        return None
    return (before, "before the deployment starts") if before >= after else (after, "after it ends")


def shift_warnings(
    deployment: Deployment, before_s: int, after_s: int, walls: Sequence[datetime]
) -> tuple[str, ...]:
    """Why a correction needs confirming: a shift over a year, or images sent far away."""
    warnings = []
    shift = after_s - before_s
    if abs(shift) > LARGE_SHIFT_S:
        direction = "later" if shift > 0 else "earlier"
        warnings.append(f"This moves every image {describe_duration(shift)} {direction}.")
    far_after = _farthest_outside(deployment, walls, after_s)
    if far_after is not None and far_after[0] > FAR_FROM_PERIOD_S:
        far_before = _farthest_outside(deployment, walls, before_s)
        # Images already that far out (a reset clock elsewhere) do not count unless moved farther.
        if far_before is None or far_after[0] - far_before[0] >= DAY_S:
            distance, side = far_after
            warnings.append(
                f"It puts images up to {describe_duration(int(distance))} {side} "
                f"({deployment.start_date} to {deployment.end_date or 'now'})."
            )
    return tuple(warnings)


@dataclass(frozen=True)
class Preview:
    """The effect of a correction, before it is applied (times in UTC)."""

    offset_before: int
    offset_after: int
    images: int
    images_changed: int
    first_before: datetime | None
    last_before: datetime | None
    first_after: datetime | None
    last_after: datetime | None
    issues_before: int
    issues_after: int
    warnings: tuple[str, ...] = ()

    @property
    def shift_s(self) -> int:
        return self.offset_after - self.offset_before


def _image_times(session: Session, deployment_id: int):
    query = (
        select(
            Image.id,
            Image.taken_at_raw,
            Image.utc_offset,
            Image.taken_at_utc,
            Image.timestamp_issue,
        )
        .where(Image.deployment_id == deployment_id)
        .order_by(Image.id)
    )
    return session.execute(query).all()


def _minmax(values: Iterable[datetime | None]) -> tuple[datetime | None, datetime | None]:
    present = [v for v in values if v is not None]
    return (min(present), max(present)) if present else (None, None)


def _plan(
    session: Session, deployment: Deployment, before_s: int, after_s: int
) -> tuple[Preview, list[dict]]:
    """What a correction would change: a preview and the image rows to update."""
    corrector = _Corrector(deployment, after_s)
    rows = _image_times(session, deployment.id)
    changes, new_times, issues_after, walls = [], [], 0, []
    for row in rows:
        parsed = camera_time(row.taken_at_raw)
        utc, issue = corrector.times(row.taken_at_raw, row.utc_offset, parsed)
        new_times.append(utc)
        issues_after += issue is not None
        if utc != row.taken_at_utc or issue != row.timestamp_issue:
            changes.append({"id": row.id, "taken_at_utc": utc, "timestamp_issue": issue})
        if parsed[0] is not None:
            walls.append(parsed[0])
    first_before, last_before = _minmax(r.taken_at_utc for r in rows)
    first_after, last_after = _minmax(new_times)
    preview = Preview(
        offset_before=before_s,
        offset_after=after_s,
        images=len(rows),
        images_changed=len(changes),
        first_before=first_before,
        last_before=last_before,
        first_after=first_after,
        last_after=last_after,
        issues_before=sum(r.timestamp_issue is not None for r in rows),
        issues_after=issues_after,
        warnings=shift_warnings(deployment, before_s, after_s, walls),
    )
    return preview, changes


def preview(session: Session, deployment: Deployment, offset_s: int) -> Preview:
    """What setting the clock correction to ``offset_s`` would do; nothing is written."""
    check_offset(offset_s)
    return _plan(session, deployment, deployment.clock_offset_s, offset_s)[0]


def _write_images(session: Session, changes: list[dict]) -> None:
    """One executemany per batch, straight to the table (the ORM's bulk path is 3x slower)."""
    table = Image.__table__
    statement = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            taken_at_utc=bindparam("b_utc", type_=table.c.taken_at_utc.type),
            timestamp_issue=bindparam("b_issue", type_=table.c.timestamp_issue.type),
        )
    )
    for start in range(0, len(changes), WRITE_BATCH):
        batch = changes[start : start + WRITE_BATCH]
        session.execute(
            statement,
            [
                {"b_id": c["id"], "b_utc": c["taken_at_utc"], "b_issue": c["timestamp_issue"]}
                for c in batch
            ],
        )


def recompute_sightings(session: Session, deployment_id: int) -> int:
    """Set event start/end of every sighting resting on the deployment's images to the min/max
    of its images' corrected times (None while none has a time); returns how many changed."""
    affected = (
        select(sighting_image.c.sighting_id)
        .join(Image, Image.id == sighting_image.c.image_id)
        .where(Image.deployment_id == deployment_id)
    )
    query = (
        select(
            Sighting.id,
            Sighting.event_start,
            Sighting.event_end,
            func.min(Image.taken_at_utc),
            func.max(Image.taken_at_utc),
        )
        .join(sighting_image, sighting_image.c.sighting_id == Sighting.id)
        .join(Image, Image.id == sighting_image.c.image_id)
        .where(Sighting.id.in_(affected))
        .group_by(Sighting.id, Sighting.event_start, Sighting.event_end)
    )
    changes = [
        {"id": ident, "event_start": first, "event_end": last}
        for ident, start, end, first, last in session.execute(query)
        if (start, end) != (first, last)
    ]
    for begin in range(0, len(changes), WRITE_BATCH):
        session.execute(update(Sighting), changes[begin : begin + WRITE_BATCH])
    return len(changes)


def _expire_loaded(session: Session) -> None:
    """Images and sightings already loaded in the session show the new times on next access."""
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Image | Sighting):
            session.expire(obj)


def recompute_times(session: Session, deployment: Deployment) -> tuple[int, int]:
    """Recompute the images' times and issues and their sightings' event times under the
    deployment's current correction, time zone and period (e.g. after its dates were edited).

    Writes no audit row: the caller records the change that made this necessary. Returns how
    many images and sightings changed.
    """
    session.flush()
    offset = deployment.clock_offset_s
    changes = _plan(session, deployment, offset, offset)[1]
    _write_images(session, changes)
    sightings_changed = recompute_sightings(session, deployment.id)
    _expire_loaded(session)
    return len(changes), sightings_changed


@dataclass(frozen=True)
class Change:
    """A clock correction that was applied."""

    deployment_id: int
    offset_before: int
    offset_after: int
    images_changed: int
    sightings_changed: int
    preview: Preview
    via: dict[str, Any] = field(default_factory=dict)


def set_clock_offset(
    session: Session,
    deployment: Deployment,
    offset_s: int,
    actor: User | None = None,
    *,
    via: dict[str, Any] | None = None,
    reason: str = "",
    confirmed: bool = False,
) -> Change:
    """Set a deployment's clock correction and recompute every time that rests on it.

    Images' corrected times and timestamp issues are recomputed from what the camera wrote, and
    sightings' event start and end from their images. A large correction (see ``_warnings``)
    raises ``NeedsConfirmation`` unless ``confirmed``; bad input raises ``InvalidInput``. Either
    way nothing is written. One audit row records the before and after, how the correction was
    derived (``via``) and what changed.
    """
    via = via or {"method": "fixed"}
    reason = (reason or "").strip()
    check_offset(offset_s)
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": f"Use at most {MAX_REASON} characters."})
    # Read under a row lock: two corrections of one deployment at once apply one after the other.
    before_s = session.execute(
        select(Deployment.clock_offset_s).where(Deployment.id == deployment.id).with_for_update()
    ).scalar_one()
    if offset_s == before_s:
        raise InvalidInput(
            {"offset": f"The clock correction is already {format_offset(before_s)}: no change."}
        )
    plan, changes = _plan(session, deployment, before_s, offset_s)
    if plan.warnings and not confirmed:
        raise NeedsConfirmation(plan)
    deployment.clock_offset_s = offset_s
    session.flush()
    _write_images(session, changes)
    sightings_changed = recompute_sightings(session, deployment.id)
    _expire_loaded(session)
    audit.record(
        session,
        actor,
        "clock-correction",
        "deployment",
        deployment.id,
        before_s=before_s,
        after_s=offset_s,
        before=format_offset(before_s),
        after=format_offset(offset_s),
        via=via,
        reason=reason,
        confirmed=bool(plan.warnings),
        warnings=list(plan.warnings),
        images=plan.images,
        images_changed=len(changes),
        sightings_changed=sightings_changed,
    )
    session.flush()
    return Change(deployment.id, before_s, offset_s, len(changes), sightings_changed, plan, via)
