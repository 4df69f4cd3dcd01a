"""Suspicious timestamps of a deployment, each finding with a suggested clock correction.

``timestamp_report`` looks for what a clock correction can explain, each
finding with a suggested fix that goes through the same confirmed, audited ``set_clock_offset``:

1. images outside the deployment period: if they all lie on one side of it, shift by whole days
   (keeping the time of day) so the last image falls on the end date, or the first on the start
   date;
2. a reset clock: a camera time in ``RESET_YEAR`` (2000) or earlier, and images with no usable
   time at all;
3. time going backwards against the file names in natural order (IMG_9 < IMG_10);
4. a probable 12-hour (AM/PM) error, from "daytime anchors": photos we know were taken by day —
   the first photo when it falls on the start date (the set-up test shot), the last when it falls
   on the end date (taking the camera down), and photos in sightings of people. If at least three
   quarters of the anchors (and at least one) lie at night (20:00-06:00 local), where no field
   work happens, the clock is probably 12 hours off: shifting by 12 hours moves night 20-06 onto
   working hours 08-18. The sign chosen keeps the anchors on the dates they show (an AM/PM slip
   changes the hour, not the date).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker import clock
from tracker.clock import MAX_CLOCK_OFFSET_S
from tracker.clockfix import shift_warnings
from tracker.clockoffsets import DAY_S, camera_time, describe_duration, format_offset
from tracker.models import Deployment, Image, Sighting, Species, sighting_image

HALF_DAY_S = 12 * 3600
RESET_YEAR = 2000  # cameras fall back to 2000-01-01 or 1970-01-01 after losing power
NIGHT_FROM, NIGHT_UNTIL = 20, 6  # local hours: no field work between 20:00 and 06:00
ANCHOR_SHARE = 0.75  # of the daytime anchors at night, for a probable 12-hour error
EXAMPLES = 5
_NATURAL_RE = re.compile(r"(\d+)")


def natural_key(name: str) -> list:
    """Sort key for file names with numbers in them: IMG_9.JPG before IMG_10.JPG."""
    parts = _NATURAL_RE.split(name.lower())
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]


@dataclass(frozen=True)
class Example:
    image_id: int
    filename: str
    raw: str | None
    local: str | None  # corrected local time, in the deployment's time zone
    note: str = ""


@dataclass(frozen=True)
class Suggestion:
    """A fix for a finding. ``offset_s`` is the new clock correction to apply (one click); a
    suggestion without one opens the clock form on ``image_id`` (a time-check photo), or the
    deployment's dates (``edit_dates``), or is advice only."""

    label: str
    detail: str = ""
    offset_s: int | None = None
    image_id: int | None = None
    edit_dates: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.warnings)

    @property
    def offset_text(self) -> str | None:
        return None if self.offset_s is None else format_offset(self.offset_s)


@dataclass(frozen=True)
class Finding:
    kind: str  # outside-period, reset-clock, no-time, backwards, twelve-hour
    title: str
    count: int
    detail: str
    examples: tuple[Example, ...] = ()
    suggestions: tuple[Suggestion, ...] = ()


@dataclass(frozen=True)
class Report:
    deployment_id: int
    offset_s: int
    images: int
    with_time: int
    findings: tuple[Finding, ...]

    def finding(self, kind: str) -> Finding | None:
        return next((f for f in self.findings if f.kind == kind), None)


@dataclass(frozen=True)
class _Row:
    id: int
    filename: str
    raw: str | None
    utc_offset: str | None
    utc: datetime | None
    issue: str | None
    camera: datetime | None  # the wall-clock time the camera wrote, whatever its year
    local: datetime | None  # corrected local time in the deployment's zone


class _ReportBuilder:
    def __init__(self, session: Session, deployment: Deployment, today: date):
        self.session, self.deployment, self.today = session, deployment, today
        self.zone = ZoneInfo(deployment.timezone)
        self.offset = deployment.clock_offset_s
        self.period = clock.period_utc(deployment)
        query = select(
            Image.id,
            Image.original_filename,
            Image.taken_at_raw,
            Image.utc_offset,
            Image.taken_at_utc,
            Image.timestamp_issue,
        ).where(Image.deployment_id == deployment.id)
        rows = []
        for ident, name, raw, utc_offset, utc, issue in session.execute(query):
            local = utc.astimezone(self.zone).replace(tzinfo=None) if utc else None
            camera = camera_time(raw)[0]
            rows.append(_Row(ident, name, raw, utc_offset, utc, issue, camera, local))
        rows.sort(key=lambda r: (natural_key(r.filename), r.id))
        self.rows = rows
        self.timed = [r for r in rows if r.utc is not None]
        self.walls = [r.camera for r in rows if r.camera is not None]

    def example(self, row: _Row, note: str = "") -> Example:
        local = row.local.strftime("%Y-%m-%d %H:%M:%S") if row.local else None
        return Example(row.id, row.filename, row.raw, local, note)

    def offer(self, label: str, offset_s: int, detail: str = "") -> Suggestion | None:
        if offset_s == self.offset or abs(offset_s) > MAX_CLOCK_OFFSET_S:
            return None
        warnings = shift_warnings(self.deployment, self.offset, offset_s, self.walls)
        return Suggestion(label, detail, offset_s=offset_s, warnings=warnings)

    def day_shift(self, days: int, what: str) -> Suggestion | None:
        """Shift by whole days, if that puts every image with a time inside the period."""
        dep, moved = self.deployment, timedelta(days=days)
        dates = [r.camera + timedelta(seconds=self.offset) + moved for r in self.rows if r.camera]
        last_day = dep.end_date or self.today
        if not dates or min(dates).date() < dep.start_date or max(dates).date() > last_day:
            return None
        delta = days * DAY_S
        label = f"Shift by {describe_duration(delta)} {'later' if delta > 0 else 'earlier'}"
        detail = f"Whole days, keeping the time of day, so that {what}."
        return self.offer(label, self.offset + delta, detail)

    def time_check(self, row: _Row | None, detail: str) -> Suggestion:
        return Suggestion("Use a time-check photo", detail, image_id=row.id if row else None)

    def build(self) -> Report:
        findings = [
            self.outside_period(),
            self.reset_clock(),
            self.no_time(),
            self.backwards(),
            self.twelve_hours(),
        ]
        return Report(
            deployment_id=self.deployment.id,
            offset_s=self.offset,
            images=len(self.rows),
            with_time=len(self.timed),
            findings=tuple(f for f in findings if f is not None),
        )

    def outside_period(self) -> Finding | None:
        start, end = self.period
        early = [r for r in self.timed if r.utc < start]
        late = [r for r in self.timed if end is not None and r.utc >= end]
        if not early and not late:
            return None
        dep = self.deployment
        suggestions = []
        if late and not early:
            last = max(r.local for r in self.timed).date()
            what = f"the last image falls on the end date, {dep.end_date}"
            suggestions.append(self.day_shift((dep.end_date - last).days, what))
        elif early and not late:
            first = min(r.local for r in self.timed).date()
            suggestions.append(
                self.day_shift(
                    (dep.start_date - first).days,
                    f"the first image falls on the start date, {dep.start_date}",
                )
            )
        outside = sorted(early + late, key=lambda r: (natural_key(r.filename), r.id))
        suggestions.append(
            self.time_check(
                outside[0], "If a photo shows the true time, the correction can be computed."
            )
        )
        suggestions.append(
            Suggestion(
                "Check the deployment's dates",
                "The camera may be right and the start or end date wrong.",
                edit_dates=True,
            )
        )
        return Finding(
            "outside-period",
            "Images outside the deployment period",
            len(outside),
            f"{len(early)} before the start date ({dep.start_date}), "
            f"{len(late)} after the end date ({dep.end_date or 'still active'}).",
            tuple(self.example(r) for r in outside[:EXAMPLES]),
            tuple(s for s in suggestions if s is not None),
        )

    def reset_clock(self) -> Finding | None:
        # A reset camera time stays a finding until a correction has moved it out of the reset.
        reset = [r for r in self.rows if _reset(r)]
        if not reset:
            return None
        suggestions = []
        if len(reset) == len(self.walls):
            # The whole deployment ran on a reset clock: start it on the start date.
            first = min(r.camera for r in reset) + timedelta(seconds=self.offset)
            suggestions.append(
                self.day_shift(
                    (self.deployment.start_date - first.date()).days,
                    f"the first image falls on the start date, {self.deployment.start_date} "
                    "(the time of day stays as the reset clock counted it: check it with a "
                    "time-check photo)",
                )
            )
            detail = "Every image has a reset camera time."
        else:
            detail = (
                f"{len(reset)} of {len(self.walls)} images: the clock was reset partway. One "
                "correction applies to the whole deployment, so the images on either side of "
                "the reset cannot both be put right by it."
            )
        suggestions.append(
            self.time_check(reset[0], "The first photo after the reset, if it shows the true time.")
        )
        return Finding(
            "reset-clock",
            f"Camera times from a reset clock ({RESET_YEAR} or earlier)",
            len(reset),
            detail,
            tuple(self.example(r, r.issue or "") for r in reset[:EXAMPLES]),
            tuple(s for s in suggestions if s is not None),
        )

    def no_time(self) -> Finding | None:
        timeless = [r for r in self.rows if r.utc is None and not _reset(r)]
        if not timeless:
            return None
        fixable = [r for r in timeless if r.camera is not None]
        if fixable:
            suggestion = self.time_check(
                fixable[0],
                f"{len(fixable)} of these have a camera time that a correction can make usable.",
            )
        else:
            suggestion = Suggestion(
                "Nothing to apply",
                "The camera wrote no usable time; a clock correction cannot give these images "
                "one. Check the camera's clock before its next deployment.",
            )
        return Finding(
            "no-time",
            "Images with no usable time",
            len(timeless),
            "Their sightings have no event time.",
            tuple(self.example(r, r.issue or "") for r in timeless[:EXAMPLES]),
            (suggestion,),
        )

    def backwards(self) -> Finding | None:
        steps, previous = [], None
        for row in self.rows:
            if row.camera is None:
                continue
            instant = _instant(row, self.deployment.timezone)
            if instant is None:
                continue
            if previous is not None and instant < previous[1]:
                steps.append((previous[0], row, previous[1] - instant))
            previous = (row, instant)
        if not steps:
            return None
        examples = tuple(
            self.example(
                row, f"{describe_duration(int(gap.total_seconds()))} before {prev.filename}"
            )
            for prev, row, gap in steps[:EXAMPLES]
        )
        return Finding(
            "backwards",
            "Time going backwards against the file names",
            len(steps),
            f"{len(steps)} time(s) a later file has an earlier camera time than the file before "
            "it: the clock was probably reset or set again partway, or files of two cameras are "
            "mixed.",
            examples,
            (
                self.time_check(
                    steps[0][1],
                    "One correction applies to the whole deployment: use a photo that shows the "
                    "true time, on the side of the jump that holds most images.",
                ),
            ),
        )

    def _anchors(self) -> list[tuple[_Row, str]]:
        dep, anchors = self.deployment, {}
        if self.timed:
            first, last = self.timed[0], self.timed[-1]
            if first.local.date() == dep.start_date:
                anchors[first.id] = (first, "first photo, on the start date (set-up)")
            if dep.end_date is not None and last.local.date() == dep.end_date:
                anchors.setdefault(last.id, (last, "last photo, on the end date (take-down)"))
        people = set(
            self.session.scalars(
                select(Image.id)
                .join(sighting_image, sighting_image.c.image_id == Image.id)
                .join(Sighting, Sighting.id == sighting_image.c.sighting_id)
                .join(Species, Species.id == Sighting.species_id)
                .where(Image.deployment_id == dep.id, Species.kind == "human")
            )
        )
        for row in self.timed:
            if row.id in people:
                anchors.setdefault(row.id, (row, "a person in a sighting"))
        return list(anchors.values())

    def twelve_hours(self) -> Finding | None:
        anchors = self._anchors()
        at_night = [(r, why) for r, why in anchors if _is_night(r.local)]
        if not anchors or len(at_night) < max(1, math.ceil(ANCHOR_SHARE * len(anchors))):
            return None

        def score(sign: int) -> int:
            shifted = [r.local + timedelta(seconds=sign * HALF_DAY_S) for r, _ in anchors]
            return sum(
                _is_working_hours(s) and s.date() == r.local.date()
                for s, (r, _) in zip(shifted, anchors, strict=True)
            )

        sign = 1 if score(1) > score(-1) else -1
        delta = sign * HALF_DAY_S
        suggestion = self.offer(
            f"Shift by {format_offset(delta)} (AM/PM error)",
            self.offset + delta,
            "Moves the daytime photos from night onto working hours, on the dates they show.",
        )
        return Finding(
            "twelve-hour",
            "Probable 12-hour (AM/PM) error",
            len(at_night),
            f"{len(at_night)} of {len(anchors)} photos that must have been taken by day (set-up, "
            f"take-down, people) show a night-time hour ({NIGHT_FROM:02d}:00 to "
            f"{NIGHT_UNTIL:02d}:00).",
            tuple(self.example(r, why) for r, why in at_night[:EXAMPLES]),
            tuple(s for s in (suggestion,) if s is not None),
        )


def _reset(row: _Row) -> bool:
    """A camera time of a reset clock that no correction has moved out of the reset years."""
    if row.camera is None or row.camera.year > RESET_YEAR:
        return False
    return row.local is None or row.local.year <= RESET_YEAR


def _instant(row: _Row, tz_name: str) -> datetime | None:
    try:
        return clock.corrected_utc(row.camera, row.utc_offset, tz_name, 0)
    except (OverflowError, ValueError):
        return None


def _is_night(local: datetime) -> bool:
    return local.hour >= NIGHT_FROM or local.hour < NIGHT_UNTIL


def _is_working_hours(local: datetime) -> bool:
    return NIGHT_UNTIL + 2 <= local.hour < NIGHT_FROM - 2


def timestamp_report(session: Session, deployment: Deployment, today: date) -> Report:
    """What looks wrong with a deployment's timestamps, each finding with suggested fixes;
    `today` (in the deployment's zone) ends a deployment still running."""
    return _ReportBuilder(session, deployment, today).build()


def local_time(deployment: Deployment, utc: datetime | None) -> str:
    """A UTC time as local time in the deployment's zone, for display."""
    if utc is None:
        return "—"
    return utc.astimezone(ZoneInfo(deployment.timezone)).strftime("%Y-%m-%d %H:%M:%S")


def period_text(deployment: Deployment) -> str:
    return f"{deployment.start_date} to {deployment.end_date or 'now (active)'}"
