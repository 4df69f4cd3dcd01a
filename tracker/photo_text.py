"""Text a photo or a client brings, made fit for the database before anything is stored.

A card's file names, zip member names, EXIF strings and XMP keywords are written by cameras,
photo-ID software and people, and may be longer than their column, hold NUL or other control
characters (PostgreSQL refuses NUL outright), or bytes that are not text at all. One such value
must never cost the photo, let alone its neighbours: a file name is kept readable (control
characters shown as U+FFFD, cut to its column), any other unusable value is dropped, and every
change is said in a warning the ranger sees beside the photo.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracker.exif import ExifData

# C0 and C1 control characters (NUL included), and the lone surrogates that stand for bytes of
# a file name that are not UTF-8: no database column can hold those.
CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
REPLACEMENT = "\ufffd"
# The sizes of the image table's columns (tracker.models.Image).
FILE_NAME_CHARS = 255
CAMERA_TEXT_CHARS = 64
RAW_TIME_CHARS = 32
# A keyword longer than this is no photo-ID tag; more keywords than this are not kept.
TAG_CHARS = 500
MAX_TAGS = 200
# A value quoted in a message is cut to this.
QUOTE_CHARS = 40


def has_control(text: str) -> bool:
    return CONTROL_RE.search(text) is not None


def shown(text: str, size: int = QUOTE_CHARS) -> str:
    """`text` as a message may quote it: control characters replaced, cut with an ellipsis."""
    text = CONTROL_RE.sub(REPLACEMENT, text)
    return text if len(text) <= size else text[: size - 1] + "…"


def file_name(name: str) -> tuple[str, list[str]]:
    """A client's or a card's file name as the tracker may store and show it, with warnings."""
    warnings = []
    if has_control(name):
        name = CONTROL_RE.sub(REPLACEMENT, name)
        warnings.append(
            "the file name has control characters or bytes that are not text; "
            f"each is shown as {REPLACEMENT}"
        )
    if len(name) > FILE_NAME_CHARS:
        warnings.append(
            f"the file name is {len(name)} characters long; its last {FILE_NAME_CHARS} are kept"
        )
        name = name[-FILE_NAME_CHARS:]
    return name, warnings


def value(label: str, text: str | None, size: int | None) -> tuple[str | None, str | None]:
    """`text` when it fits (no control characters, at most `size`), else None and why."""
    if text is None:
        return None, None
    if has_control(text):
        return None, f"{label} {shown(text)!r} has control characters; not kept"
    if size is not None and len(text) > size:
        return None, (
            f"{label} {shown(text)!r} is {len(text)} characters, longer than the {size} "
            "kept; not kept"
        )
    return text, None


def tags(keywords: tuple[str, ...]) -> tuple[tuple[str, ...], list[str]]:
    """The XMP keywords worth keeping, and a warning for each one dropped."""
    kept, warnings, over = [], [], 0
    for keyword in keywords:
        fit, problem = value("the XMP keyword", keyword, TAG_CHARS)
        if problem:
            warnings.append(problem)
        elif len(kept) < MAX_TAGS:
            kept.append(fit)
        else:
            over += 1
    if over:
        warnings.append(f"{over} XMP keywords beyond the first {MAX_TAGS} not kept")
    return tuple(kept), warnings


def _camera_time_label(metadata: ExifData) -> str:
    if metadata.time_source == "makernotes":
        return "the camera time (Reconyx maker note)"
    return "the camera time (EXIF DateTimeOriginal or DateTime)"


def checked_exif(metadata: ExifData) -> tuple[ExifData, list[str]]:
    """What the camera wrote, with every value the database could not hold dropped."""
    warnings: list[str] = []

    def keep(label: str, text, size: int | None):
        if not isinstance(text, str):
            return text
        fit, problem = value(label, text, size)
        if problem:
            warnings.append(problem)
        return fit

    changes = {
        "taken_at_raw": keep(_camera_time_label(metadata), metadata.taken_at_raw, RAW_TIME_CHARS),
        "subsec": keep("the sub-second time", metadata.subsec, RAW_TIME_CHARS),
        "make": keep("the camera Make", metadata.make, CAMERA_TEXT_CHARS),
        "model": keep("the camera Model", metadata.model, CAMERA_TEXT_CHARS),
        "serial": keep("the camera serial number", metadata.serial, CAMERA_TEXT_CHARS),
    }
    kept_tags, tag_warnings = tags(metadata.tags)
    changes["tags"] = kept_tags
    warnings += tag_warnings
    notes = metadata.makernotes
    if notes is not None:
        texts = {
            name: keep(f"the maker note's {name.replace('_', ' ')}", text, CAMERA_TEXT_CHARS)
            for name, text in dataclasses.asdict(notes).items()
            if isinstance(text, str) and name != "taken_at_raw"
        }
        changes["makernotes"] = dataclasses.replace(notes, **texts)
    return dataclasses.replace(metadata, **changes), warnings
