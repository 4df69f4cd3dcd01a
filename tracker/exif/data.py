"""What `read_exif` returns, and the helpers every part of the reading shares."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from tracker.reconyx import ReconyxMakerNotes


@dataclass(frozen=True, slots=True)
class ExifData:
    """The metadata of one image. Every field is None (or empty) when unknown.

    ``taken_at`` is the naive camera-local wall-clock time; ``taken_at_raw`` is the string the
    camera wrote, kept even when ``time_problem`` says it is unusable. ``time_source`` is "exif" or
    "makernotes". ``latitude``/``longitude`` are signed decimal degrees and ``altitude`` is signed
    metres; an impossible position leaves all three None and an impossible altitude leaves just
    the altitude None, the reason going to ``gps_problem``. ``width``/``height`` are the size of
    the JPEG frame itself, as stored; ``orientation`` is the Exif orientation (1-8) that turns it
    upright. ``error`` is None for a usable JPEG (even one without any metadata) and otherwise
    says why the file is not one, or that its Exif block could not be read at all.
    """

    taken_at: datetime | None = None
    taken_at_raw: str | None = None
    subsec: int | str | None = None  # milliseconds, or the raw text if it is not digits
    utc_offset: str | None = None  # "+HH:MM"
    time_source: str | None = None
    time_problem: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude: float | None = None
    gps_problem: str | None = None
    make: str | None = None
    model: str | None = None
    serial: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    tags: tuple[str, ...] = ()
    makernotes: ReconyxMakerNotes | None = None
    error: str | None = None


@contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Silence the UserWarnings Pillow emits as it skips corrupt tags.

    Pillow is only asked on the rare paths (a block exifread could not read, a file that is not
    a JPEG), and the outcome is reported anyway. Without this, ``-W error`` would turn those
    warnings into exceptions and abort the very fallback they belong to, so tests would not see
    what production does. catch_warnings swaps process-wide state, so on these rare paths a
    concurrent thread's warning filters can be briefly affected; reading stays correct.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _reason(prefix: str, exc: BaseException) -> str:
    """A one-line, bounded description of an exception for ExifData.error."""
    detail = " ".join(str(exc).split())[:200]
    kind = type(exc).__name__
    return f"{prefix}: {kind}: {detail}" if detail else f"{prefix}: {kind}"
