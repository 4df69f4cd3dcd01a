"""Camera time to true time: clock correction, time zone, and the deployment period.

Camera clocks drift and are set by hand in the forest; what the camera wrote is kept untouched and
this module computes the corrected UTC time from it, so a later clock fix can recompute it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from tracker.models import Deployment

# Under 2**31: the column is a 32-bit integer on PostgreSQL. 60 years still covers a camera whose
# clock fell back to 1970 after a battery change.
MAX_CLOCK_OFFSET_S = 60 * 365 * 86400


def parse_offset(offset: str | None) -> timezone | None:
    """'+10:00' -> a fixed time zone; None when absent or malformed."""
    if not offset or len(offset) != 6 or offset[0] not in "+-" or offset[3] != ":":
        return None
    try:
        hours, minutes = int(offset[1:3]), int(offset[4:6])
    except ValueError:
        return None
    if hours > 14 or minutes >= 60:
        return None
    sign = 1 if offset[0] == "+" else -1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def corrected_utc(
    camera_time: datetime | None, utc_offset: str | None, tz_name: str, clock_offset_s: int
) -> datetime | None:
    """Camera time + clock correction, read in the camera's own offset if it wrote one, else in
    the deployment's time zone; returned in UTC."""
    if camera_time is None:
        return None
    local = camera_time + timedelta(seconds=clock_offset_s)
    zone = parse_offset(utc_offset) or ZoneInfo(tz_name)
    return local.replace(tzinfo=zone).astimezone(UTC)


def wall_time_problem(
    camera_time: datetime | None, utc_offset: str | None, tz_name: str, clock_offset_s: int
) -> str | None:
    """Why a corrected camera time cannot be placed in the deployment's zone, or None.

    At a daylight-saving change a wall-clock hour is skipped (the time never existed there) or
    repeated (it happened twice). Either way the true instant is unknown: the image is flagged,
    never shifted to a guess. A camera that wrote its own UTC offset has no such doubt.
    """
    if camera_time is None or parse_offset(utc_offset) is not None:
        return None
    local = camera_time + timedelta(seconds=clock_offset_s)
    zone = ZoneInfo(tz_name)
    early, late = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    if early.utcoffset() == late.utcoffset():
        return None
    shown = local.strftime("%Y-%m-%d %H:%M:%S")
    if early.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        return f"local time {shown} does not exist in {tz_name} (skipped at a clock change)"
    return f"local time {shown} is ambiguous in {tz_name} (repeated at a clock change)"


def now() -> datetime:
    """The current moment, in UTC: read by the edges (CLI commands, views), passed on from there."""
    return datetime.now(UTC)


def local_today(tz_name: str) -> date:
    """Today's date in the given time zone (the park's day, not the server's)."""
    return datetime.now(ZoneInfo(tz_name)).date()


def today_for(tz_name: str, fallback_tz: str) -> date:
    """Today in a zone someone typed, or in the fallback (the park's) when it is not a zone."""
    try:
        return local_today(tz_name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError; "" is a ValueError
        return local_today(fallback_tz)


def local_day_bounds(day: date, tz_name: str) -> datetime:
    """The UTC instant a local calendar day starts in the given time zone."""
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz_name)).astimezone(UTC)


def period_utc(deployment: Deployment) -> tuple[datetime, datetime | None]:
    """[start, end) of a deployment in UTC: whole local days, end day included."""
    start = local_day_bounds(deployment.start_date, deployment.timezone)
    if deployment.end_date is None:
        return start, None
    return start, local_day_bounds(deployment.end_date + timedelta(days=1), deployment.timezone)


def timestamp_issue(
    utc: datetime | None, period: tuple[datetime, datetime | None], problem: str | None = None
) -> str | None:
    """Why this image's time cannot be trusted (Camtrap DP timestampIssues), or None.

    ``problem`` is what is wrong with the camera time itself (unset clock, a local time that does
    not exist); it wins over the period check.
    """
    if problem:
        return problem
    if utc is None:
        return problem or "no capture time in the file"
    start, end = period
    if utc < start or (end is not None and utc >= end):
        return "capture time outside the deployment period"
    return None
