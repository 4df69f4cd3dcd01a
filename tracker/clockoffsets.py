"""How a clock correction is said: a fixed offset ("-300", "+01:30:00") or a time-check photo
with the true local time it shows, and the offset either gives. Reading and describing offsets
only; tracker.clockfix applies them. Pure domain: no Flask.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from tracker import clock
from tracker.clock import MAX_CLOCK_OFFSET_S
from tracker.errors import InvalidInput
from tracker.exif import parse_camera_time
from tracker.models import Deployment, Image

DAY_S = 86400

# What exif.py accepts as a camera time, read here without its plausibility check: a correction
# may turn a 1970 camera time into a plausible one, so plausibility is judged after correcting.
_SECONDS_RE = re.compile(r"([+-]?)(\d{1,10})")
_DURATION_RE = re.compile(r"([+-]?)(\d{1,6}):(\d{2})(?::(\d{2}))?")
_LOCAL_TIME_RE = re.compile(
    r"(\d{4})[-:/.](\d{1,2})[-:/.](\d{1,2})[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
)


# ---------------------------------------------------------------------------------------------
# Offsets: parsing, formatting, deriving from a time-check photo


def format_offset(seconds: int) -> str:
    """-300 -> "-00:05:00"; hours may exceed 24 ("+438000:00:00"), and parse back."""
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}"


def describe_duration(seconds: int) -> str:
    """A length of time for people: "3 days 02:00:00", "about 40 years"."""
    span = abs(seconds)
    if span >= 2 * 365 * DAY_S:
        return f"about {round(span / (365.2425 * DAY_S))} years"
    days, rest = divmod(span, DAY_S)
    hms = format_offset(rest)[1:]
    if days:
        return f"{days} day{'s' if days != 1 else ''}" + (f" {hms}" if rest else "")
    return hms


def parse_offset(text: str | None) -> int:
    """Seconds from "5400", "-300", "+01:30:00", "-00:05" (hours:minutes[:seconds])."""
    cleaned = (text or "").strip().replace("\u2212", "-").replace(" ", "")
    seconds, sign = None, ""
    if match := _SECONDS_RE.fullmatch(cleaned):
        seconds, sign = int(match[2]), match[1]
    elif match := _DURATION_RE.fullmatch(cleaned):
        hours, minutes, secs = int(match[2]), int(match[3]), int(match[4] or 0)
        if minutes < 60 and secs < 60:
            seconds, sign = hours * 3600 + minutes * 60 + secs, match[1]
    if seconds is None:
        raise InvalidInput(
            {
                "offset": "Enter the correction in seconds (e.g. -300) or as ±HH:MM:SS "
                "(e.g. +01:30:00)."
            }
        )
    seconds = -seconds if sign == "-" else seconds
    check_offset(seconds)
    return seconds


def check_offset(seconds: int) -> None:
    if abs(seconds) > MAX_CLOCK_OFFSET_S:
        raise InvalidInput({"offset": "A clock correction of more than 60 years is not plausible."})


def parse_local_time(text: str | None, tz_name: str) -> datetime:
    """A true local time as a person types it: "2024-03-10 23:45:30", "2024-03-10T23:45"."""
    match = _LOCAL_TIME_RE.fullmatch((text or "").strip())
    message = f"Enter the true local time as YYYY-MM-DD HH:MM:SS (in {tz_name})."
    if match is None:
        raise InvalidInput({"true_time": message})
    try:
        return datetime(*(int(part or 0) for part in match.groups()))
    except ValueError:
        raise InvalidInput({"true_time": f"That date or time does not exist. {message}"}) from None


def camera_time(raw: str | None) -> tuple[datetime | None, str | None]:
    """The wall-clock time a camera wrote, whatever its year; or None and why (as exif.py says)."""
    return (None, None) if raw is None else parse_camera_time(raw)


def offset_from_photo(deployment: Deployment, image: Image, true_local: datetime) -> int:
    """The clock correction that makes this photo's corrected time the true time it shows.

    ``true_local`` is naive local time in the deployment's time zone (an aware one is converted).
    For a camera that wrote its own UTC offset, the photo's time is read in that offset, as
    ``clock.corrected_utc`` reads it, so the corrected time equals the true instant either way.
    """
    if image.deployment_id != deployment.id:
        raise InvalidInput(
            {
                "image": f"Image {image.id} belongs to deployment {image.deployment_id}, "
                f"not to deployment {deployment.id}."
            }
        )
    camera, problem = camera_time(image.taken_at_raw)
    if camera is None:
        why = problem or "the file has no capture time"
        raise InvalidInput(
            {"image": f"Image {image.id} has no usable camera time ({why}); choose another photo."}
        )
    zone = ZoneInfo(deployment.timezone)
    true = true_local if true_local.tzinfo else true_local.replace(tzinfo=zone)
    fixed = clock.parse_offset(image.utc_offset)
    wall = true.astimezone(fixed or zone).replace(tzinfo=None)
    offset = round((wall - camera).total_seconds())
    check_offset(offset)
    return offset


@dataclass(frozen=True)
class Derived:
    """A new clock correction and how it was arrived at, for the audit log."""

    offset_s: int
    via: dict[str, Any]


def fixed_offset(text: str | None) -> Derived:
    offset = parse_offset(text)
    return Derived(offset, {"method": "fixed", "entered": (text or "").strip()})


def from_time_check(
    session: Session, deployment: Deployment, image_id: int | None, true_time: str | None
) -> Derived:
    """The correction from a time-check photo (by id) and the true local time it shows."""
    errors = {}
    image = session.get(Image, image_id) if image_id is not None else None
    if image_id is None:
        errors["image"] = "Choose the time-check photo (its image number)."
    elif image is None:
        errors["image"] = f"There is no image {image_id}."
    try:
        true_local = parse_local_time(true_time, deployment.timezone)
    except InvalidInput as exc:
        errors |= exc.errors
    if errors:
        raise InvalidInput(errors)
    offset = offset_from_photo(deployment, image, true_local)
    via = {
        "method": "time-check photo",
        "image_id": image.id,
        "filename": image.original_filename,
        "camera_time": image.taken_at_raw,
        "true_local_time": true_local.isoformat(sep=" "),
    }
    return Derived(offset, via)
