"""Read what a camera trap writes into its JPEGs: when, where, which camera, which keywords.

``read_exif(path_or_file)`` returns an ``ExifData`` and never raises for a bad file; whatever makes
a file unusable ends up as a one-line reason in ``ExifData.error``. Pure module: no Flask, no
database, and it only reads metadata (hashing the file is the caller's job).

How, and why this way:

* We walk the JPEG markers ourselves from SOI to the first scan (SOS), reading only the Exif, XMP
  and frame-header (SOF) segments and seeking over the rest. A 5 MB photo costs a few small reads,
  pixels are never decoded, and an Exif block is found wherever it sits; plain exifread gives up
  on phone files that put a vendor segment (APP8 "HUAWEI") before it.
* The Exif block (a small TIFF) is parsed from memory by exifread with ``details=False``, which
  skips the maker notes: decoding every vendor's maker notes is the slow part of exifread. If
  exifread raises or finds none of the tags we use, Pillow's Exif parser gets a turn.
* Reconyx maker notes are located with two IFD lookups and decoded in ``tracker.reconyx``; some
  Reconyx firmware writes the capture time nowhere else. Other makers' maker notes are only read
  for the body serial when no Exif or XMP tag has it (``tracker.bodyserial``, with exiv2).
* Capture times are read from the Exif sub-IFD, or from IFD0 where some cameras put them; the
  offset from UTC from ``OffsetTime*`` or, failing that, ``TimeZoneOffset`` (whole hours).
* Values that cannot be true become None, with a short reason in ``time_problem`` or
  ``gps_problem``: a clock that was never set, a date before 1990 or in the future, latitude 213,
  an altitude of 4294967284 m, a position of exactly 0,0.

The parts: ``jpeg`` walks the markers (and names what a non-JPEG is), ``tags`` collects the Exif
tags and finds the maker note, ``times`` and ``gps`` turn tags into answers, ``xmp`` reads the
keywords, ``data`` holds ``ExifData``; this module puts them together.
"""

from __future__ import annotations

import os
from typing import IO

from tracker import bodyserial, reconyx
from tracker.exif.data import ExifData, _reason
from tracker.exif.gps import _gps_fields
from tracker.exif.jpeg import (
    _BadJpeg,
    _Header,
    _not_jpeg,
    _pillow_header,
    _scan_jpeg,
    frame_size,
)
from tracker.exif.tags import (
    _exif_fields,
    _maker_note,
    _orientation,
    _pillow_fields,  # noqa: F401 - tests reach it as exif._pillow_fields
    _text,
)
from tracker.exif.times import EARLIEST_PLAUSIBLE, FUTURE_SLACK, _time_fields, parse_camera_time
from tracker.exif.xmp import _parse_xmp, _xmp_tags
from tracker.reconyx import ReconyxMakerNotes

__all__ = [
    "EARLIEST_PLAUSIBLE",
    "FUTURE_SLACK",
    "ExifData",
    "ReconyxMakerNotes",
    "frame_size",
    "parse_camera_time",
    "read_exif",
    "to_json_dict",
]


def read_exif(source: str | os.PathLike[str] | IO[bytes]) -> ExifData:
    """Read one image's metadata from a path or a seekable binary file object. Never raises.

    A file object is read from its start and left at the position it had.
    """
    try:
        if isinstance(source, str | os.PathLike):
            with open(source, "rb") as fh:
                return _read(fh)
        position = source.tell()
        try:
            source.seek(0)
            return _read(source)
        finally:
            source.seek(position)
    except OSError as exc:
        return ExifData(error=f"cannot read file: {exc.strerror or exc}")
    except Exception as exc:  # the promise is "never raises": a bug here must not stop an ingest
        return ExifData(error=_reason("unreadable file", exc))


def to_json_dict(path: str | os.PathLike[str], sha256: str | None, data: ExifData) -> dict:
    """One record of ``tracker inspect --json``: exactly the keys of the CLI contract."""
    return {
        "path": os.fspath(path),
        "sha256": sha256,
        "taken_at": data.taken_at.isoformat(timespec="seconds") if data.taken_at else None,
        "utc_offset": data.utc_offset,
        "latitude": data.latitude,
        "longitude": data.longitude,
        "altitude": data.altitude,
        "make": data.make,
        "model": data.model,
        "serial": data.serial,
        "width": data.width,
        "height": data.height,
        "tags": list(data.tags),
        "error": data.error,
    }


def _read(fh: IO[bytes]) -> ExifData:
    start = fh.read(16)
    if not start.startswith(b"\xff\xd8\xff"):
        return ExifData(error=_not_jpeg(fh, start))
    fh.seek(2)
    try:
        header = _scan_jpeg(fh)
    except _BadJpeg as exc:
        header = _pillow_header(fh)
        if header is None:
            return ExifData(error=str(exc))
    return _build(header)


# --- From tags to answers -------------------------------------------------------------------------


def _build(header: _Header) -> ExifData:
    fields, exif_error = _exif_fields(header.exif) if header.exif else ({}, None)
    make = _text(fields.get("Make"))
    notes = reconyx.decode(_maker_note(header.exif), make) if header.exif else None
    xmp = _parse_xmp(header.xmp)
    serial = (
        _text(fields.get("BodySerialNumber"))
        or _text(fields.get("CameraSerialNumber"))
        or (notes.serial if notes else None)
        or bodyserial.from_xmp(xmp)
        or (bodyserial.from_makernotes(header.exif, make) if header.exif else None)
    )
    return ExifData(
        **_time_fields(fields, notes),
        **_gps_fields(fields),
        make=make,
        model=_text(fields.get("Model")),
        serial=serial,
        width=header.width,
        height=header.height,
        orientation=_orientation(fields.get("Orientation")),
        tags=_xmp_tags(xmp),
        makernotes=notes,
        error=exif_error,
    )
