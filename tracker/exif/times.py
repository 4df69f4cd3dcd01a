"""Capture times: which tag to believe, its offset from UTC and sub-seconds, and whether the
date can be true (a clock never set, before 1990, in the future)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from tracker.exif.tags import _first_int, _text
from tracker.photo_text import shown
from tracker.reconyx import ReconyxMakerNotes

EARLIEST_PLAUSIBLE = datetime(1990, 1, 1)
FUTURE_SLACK = timedelta(days=1)  # camera clocks run in local time, ahead of ours by up to a day

# Each capture-time tag with its own offset and sub-second tags, in the order they are believed.
# The Exif sub-IFD is where the standard puts the capture times; a copy in IFD0 comes next (some
# cameras and editors write them there, and DateTime is then the time of the last save, years
# later); the maker notes' time before DateTimeDigitized, because some Reconyx firmware writes the
# capture time only there.
_MAKERNOTES = "makernotes"
_TIME_TAGS = (
    ("DateTimeOriginal", "OffsetTimeOriginal", "SubSecTimeOriginal"),
    ("IFD0DateTimeOriginal", "OffsetTimeOriginal", "SubSecTimeOriginal"),
    (_MAKERNOTES, "OffsetTimeOriginal", None),
    ("DateTimeDigitized", "OffsetTimeDigitized", "SubSecTimeDigitized"),
    ("IFD0DateTimeDigitized", "OffsetTimeDigitized", "SubSecTimeDigitized"),
    ("DateTime", "OffsetTime", "SubSecTime"),
)
_TIME_RE = re.compile(r"(\d{4})[:/.-](\d{1,2})[:/.-](\d{1,2})[ T]+(\d{1,2}):(\d{1,2}):(\d{1,2})")
_UNSET_RE = re.compile(r"[0\s:./-]*")  # "0000:00:00 00:00:00", or EXIF's blank "    :  :  ..."
_OFFSET_RE = re.compile(r"([+-])(\d{2}):?(\d{2})")


def _time_fields(fields: dict[str, Any], notes: ReconyxMakerNotes | None) -> dict[str, Any]:
    """The capture time from the first of _TIME_TAGS the file has.

    A tag that is present but wrong (clock never set, 1970) is reported rather than skipped:
    falling back to a later tag would quietly swap in another clock reading (DateTime is
    often the time of the last edit).
    """
    for tag, offset_tag, subsec_tag in _TIME_TAGS:
        if tag == _MAKERNOTES:
            raw = notes.taken_at_raw if notes is not None else None
        else:
            raw = _text(fields.get(tag))
        if raw is None:
            continue
        found = {
            **_judge_time(raw),
            "time_source": "makernotes" if tag == _MAKERNOTES else "exif",
            "utc_offset": _offset(fields, offset_tag),
        }
        if subsec_tag is not None:
            found["subsec"] = _subsec(fields.get(subsec_tag))
        return found
    return {}


def parse_camera_time(raw: str) -> tuple[datetime | None, str | None]:
    """The wall-clock time a camera wrote, whatever its year; or None and why not.

    Plausibility (before 1990, in the future) is a separate judgement: a clock correction may
    rescue a camera that was reset to 1970.
    """
    if _UNSET_RE.fullmatch(raw):
        return None, f"camera clock not set ({shown(raw)})"
    match = _TIME_RE.match(raw)
    if match is None:
        return None, f"unparsable date ({shown(raw)})"
    try:
        return datetime(*(int(part) for part in match.groups())), None
    except ValueError:
        return None, f"impossible date ({shown(raw)})"


def _judge_time(raw: str) -> dict[str, Any]:
    """The datetime the text stands for, or None and the reason it cannot be believed."""
    taken_at, problem = parse_camera_time(raw)
    if taken_at is not None:
        problem = _implausible(taken_at, raw)
    return {"taken_at_raw": raw, "taken_at": None if problem else taken_at, "time_problem": problem}


def _implausible(taken_at: datetime, raw: str) -> str | None:
    if taken_at < EARLIEST_PLAUSIBLE:
        return f"date before {EARLIEST_PLAUSIBLE.year} ({shown(raw)})"
    if taken_at > datetime.now() + FUTURE_SLACK:
        return f"date in the future ({shown(raw)})"
    return None


def _offset(fields: dict[str, Any], tag: str) -> str | None:
    """The offset from UTC the camera wrote, as "+HH:MM".

    From ``tag``, else OffsetTime (the offset of the file's clock), else TimeZoneOffset (0x882A,
    whole hours: Reconyx HF2 writes -6 there and nothing in OffsetTime*).
    """
    for name in (tag, "OffsetTime"):
        match = _OFFSET_RE.fullmatch(_text(fields.get(name)) or "")
        if match and int(match[2]) <= 14 and int(match[3]) < 60:
            return f"{match[1]}{match[2]}:{match[3]}"
    hours = _first_int(fields.get("TimeZoneOffset"))
    if hours is not None and -12 <= hours <= 14:
        return f"{'-' if hours < 0 else '+'}{abs(hours):02d}:00"
    return None


def _subsec(value: Any) -> int | str | None:
    """SubSecTime is a decimal fraction written as digits: "52" is 520 ms, "695326" is 695 ms."""
    text = _text(value)
    if text is None:
        return None
    if re.fullmatch(r"[0-9]+", text):
        return int(text[:3].ljust(3, "0"))
    return text
