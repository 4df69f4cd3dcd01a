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
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

import exifread
from PIL import ExifTags, Image

from tracker import bodyserial, reconyx
from tracker.photo_text import shown
from tracker.reconyx import ReconyxMakerNotes

__all__ = ["ExifData", "ReconyxMakerNotes", "read_exif", "to_json_dict"]

EARLIEST_PLAUSIBLE = datetime(1990, 1, 1)
FUTURE_SLACK = timedelta(days=1)  # camera clocks run in local time, ahead of ours by up to a day
MAX_ALTITUDE_M = 9000.0  # above Everest: a wrapped negative number, not a place
MIN_ALTITUDE_M = -430.0  # the Dead Sea shore, the lowest dry land


@dataclass(frozen=True, slots=True)
class ExifData:
    """The metadata of one image. Every field is None (or empty) when unknown.

    ``taken_at`` is the naive camera-local wall-clock time; ``taken_at_raw`` is the string the
    camera wrote, kept even when ``time_problem`` says it is unusable. ``time_source`` is "exif" or
    "makernotes". ``latitude``/``longitude`` are signed decimal degrees and ``altitude`` is signed
    metres; an impossible position leaves all three None and an impossible altitude leaves just
    the altitude None, the reason going to ``gps_problem``. ``width``/``height`` are the size of
    the JPEG frame itself. ``error`` is None for a usable JPEG (even one without any metadata) and
    otherwise says why the file is not one, or that its Exif block could not be read at all.
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
    tags: tuple[str, ...] = ()
    makernotes: ReconyxMakerNotes | None = None
    error: str | None = None


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


# --- The file: is it a JPEG, and where are its header segments ------------------------------------

_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # DHT, JPG, DAC are not frames
_STANDALONE_MARKERS = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
_XMP_ID = b"http://ns.adobe.com/xap/1.0/\x00"
_MAX_JUNK = 65536  # stray bytes between segments that we skip, as decoders do, before giving up


class _BadJpeg(Exception):
    """The marker walk found the file truncated or corrupt; the message is the reason to show."""


@dataclass(slots=True)
class _Header:
    exif: bytes | None = None  # the TIFF structure after "Exif\0\0"
    xmp: bytes | None = None  # the XMP packet after its namespace id
    width: int | None = None
    height: int | None = None


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


def _scan_jpeg(fh: IO[bytes]) -> _Header:
    """Walk the markers after SOI up to the first scan, keeping the Exif, XMP and SOF segments.

    Everything else is skipped with a seek, so the cost does not grow with the image, and Exif
    blocks of any size a segment can hold are read whole. Raises _BadJpeg with the reason.
    """
    header = _Header()
    while True:
        marker = _next_marker(fh)
        if marker == 0xDA:  # start of scan: the header is over
            if header.width is None:
                raise _BadJpeg("corrupt JPEG: image data before any frame header (SOF)")
            return header
        if marker == 0xD9:
            raise _BadJpeg("corrupt JPEG: end-of-image marker before any image data")
        if marker in _STANDALONE_MARKERS:
            continue
        size = _read_length(fh, marker)
        if marker in _SOF_MARKERS or (marker == 0xE1 and _wanted_app1(fh, size, header)):
            _keep_segment(header, marker, _read_exactly(fh, size, marker))
        else:
            fh.seek(size, io.SEEK_CUR)


def _wanted_app1(fh: IO[bytes], size: int, header: _Header) -> bool:
    """Peek at an APP1 segment's id: only the first Exif block and XMP packet are worth reading.

    Phones write megabytes of "extended XMP" (depth maps) in further APP1 segments; those are
    skipped with a seek like everything else.
    """
    peek = fh.read(min(size, len(_XMP_ID)))
    fh.seek(-len(peek), io.SEEK_CUR)
    if peek.startswith(b"Exif\x00"):
        return header.exif is None
    return peek.startswith(_XMP_ID) and header.xmp is None


def _next_marker(fh: IO[bytes]) -> int:
    """The next marker code, skipping 0xFF fill bytes and (a bounded amount of) stray junk."""
    for _ in range(_MAX_JUNK):
        byte = fh.read(1)
        if byte != b"\xff":
            if not byte:
                raise _BadJpeg("truncated JPEG: the file ends inside the header, before any image")
            continue
        code = fh.read(1)
        while code == b"\xff":
            code = fh.read(1)
        if not code:
            raise _BadJpeg("truncated JPEG: the file ends inside the header, before any image")
        if code != b"\x00":
            return code[0]
    raise _BadJpeg("corrupt JPEG: no segment marker where one should be")


def _read_length(fh: IO[bytes], marker: int) -> int:
    raw = fh.read(2)
    if len(raw) < 2:
        raise _BadJpeg("truncated JPEG: the file ends inside the header, before any image")
    length = int.from_bytes(raw, "big")
    if length < 2:
        raise _BadJpeg(f"corrupt JPEG: impossible length {length} of segment 0xFF{marker:02X}")
    return length - 2


def _read_exactly(fh: IO[bytes], size: int, marker: int) -> bytes:
    data = fh.read(size)
    if len(data) < size:
        raise _BadJpeg(f"truncated JPEG: segment 0xFF{marker:02X} runs past the end of the file")
    return data


def _keep_segment(header: _Header, marker: int, payload: bytes) -> None:
    """Remember the first frame size, the first Exif block and the first (main) XMP packet."""
    if marker in _SOF_MARKERS:
        if header.width is None and len(payload) >= 5:
            height, width = struct.unpack_from(">HH", payload, 1)
            header.width, header.height = width or None, height or None
    elif payload.startswith(b"Exif\x00"):
        header.exif = payload[6:]
    elif payload.startswith(_XMP_ID):
        header.xmp = payload[len(_XMP_ID) :]


def _pillow_header(fh: IO[bytes]) -> _Header | None:
    """Second opinion when our marker walk rejects a file: can Pillow's JPEG header reader cope?

    Pillow opens a file that ends before its first scan without complaint, so we only take its
    word when it reached the image data (it then has a tile to decode).
    """
    try:
        fh.seek(0)
        with _quiet_pillow(), Image.open(fh, formats=["JPEG"]) as img:
            if not img.tile:
                return None
            exif, xmp = img.info.get("exif"), img.info.get("xmp")
            return _Header(
                exif=exif[6:] if isinstance(exif, bytes) and exif.startswith(b"Exif") else None,
                xmp=xmp if isinstance(xmp, bytes) else None,
                width=img.width,
                height=img.height,
            )
    except Exception:  # Pillow agrees the file is broken; the caller reports our reason
        return None


# --- Files that are not JPEGs: say what they are --------------------------------------------------

_MAGIC = (
    (0, b"\x89PNG\r\n\x1a\n", "PNG"),
    (0, b"GIF8", "GIF"),
    (0, b"II*\x00", "TIFF or camera raw"),
    (0, b"MM\x00*", "TIFF or camera raw"),
    (0, b"%PDF", "PDF"),
    (0, b"PK\x03\x04", "ZIP archive"),
    (8, b"WEBP", "WEBP"),
    (8, b"AVI ", "AVI video"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


def _not_jpeg(fh: IO[bytes], start: bytes) -> str:
    if not start:
        return "empty file"
    kind = _magic_kind(start) or _pillow_format(fh) or _text_or_unknown(fh, start)
    return f"not a JPEG image ({kind})"


def _magic_kind(start: bytes) -> str | None:
    for offset, magic, kind in _MAGIC:
        if start[offset : offset + len(magic)] == magic:
            return kind
    if start[4:8] == b"ftyp":
        brand = start[8:12]
        if brand in _HEIF_BRANDS:
            return "HEIC"
        return "AVIF" if brand in (b"avif", b"avis") else "MP4/MOV video"
    return None


def _pillow_format(fh: IO[bytes]) -> str | None:
    try:
        fh.seek(0)
        with _quiet_pillow(), Image.open(fh) as img:
            return img.format
    except Exception:  # not an image Pillow knows either
        return None


def _text_or_unknown(fh: IO[bytes], start: bytes) -> str:
    fh.seek(0)
    sample = fh.read(1024).decode("utf-8", errors="replace")
    readable = sum(ch.isprintable() or ch in "\t\r\n\f" for ch in sample)
    if "\x00" not in sample and readable >= 0.95 * len(sample):
        return "text file"
    return f"unknown format starting {start[:4].hex(' ')}"


# --- The Exif block: collect the tags we use, whichever reader finds them -------------------------

# (IFD, tag id) -> field name; the IFD names are exifread's key prefixes.
_WANTED = {
    ("Image", 0x010F): "Make",
    ("Image", 0x0110): "Model",
    ("Image", 0x0132): "DateTime",
    ("Image", 0xC62F): "CameraSerialNumber",
    # Some cameras and editors put the capture times in IFD0 instead of the Exif sub-IFD.
    ("Image", 0x9003): "IFD0DateTimeOriginal",
    ("Image", 0x9004): "IFD0DateTimeDigitized",
    ("Image", 0x882A): "TimeZoneOffset",
    ("EXIF", 0x9003): "DateTimeOriginal",
    ("EXIF", 0x9004): "DateTimeDigitized",
    ("EXIF", 0x9010): "OffsetTime",
    ("EXIF", 0x9011): "OffsetTimeOriginal",
    ("EXIF", 0x9012): "OffsetTimeDigitized",
    ("EXIF", 0x882A): "TimeZoneOffset",  # hours from UTC (Reconyx HF2, older Canon/Fuji)
    ("EXIF", 0x9290): "SubSecTime",
    ("EXIF", 0x9291): "SubSecTimeOriginal",
    ("EXIF", 0x9292): "SubSecTimeDigitized",
    ("EXIF", 0xA431): "BodySerialNumber",
    ("GPS", 0x0001): "GPSLatitudeRef",
    ("GPS", 0x0002): "GPSLatitude",
    ("GPS", 0x0003): "GPSLongitudeRef",
    ("GPS", 0x0004): "GPSLongitude",
    ("GPS", 0x0005): "GPSAltitudeRef",
    ("GPS", 0x0006): "GPSAltitude",
}
_GPS_POINTER = 0x8825


def _exif_fields(tiff: bytes) -> tuple[dict[str, Any], str | None]:
    """The tags we use, from exifread, or from Pillow when exifread fails or finds none of them.

    Also returns the reason when neither reader could make anything of the block.
    """
    failure: Exception | None = None
    try:
        fields = _exifread_fields(tiff)
    except Exception as exc:  # exifread raises IndexError, struct.error ... on corrupt blocks
        fields, failure = {}, exc
    if fields:
        return fields, None
    try:
        fields = _pillow_fields(tiff)
    except Exception as exc:  # Pillow's own SyntaxError, struct.error ...
        failure = failure or exc
    if fields or failure is None:
        return fields, None
    return fields, _reason("unreadable EXIF", failure)


def _exifread_fields(tiff: bytes) -> dict[str, Any]:
    tags = exifread.process_file(io.BytesIO(tiff), details=False, extract_thumbnail=False)
    found = {}
    for key, tag in tags.items():
        name = _WANTED.get((key.split(" ", 1)[0], getattr(tag, "tag", None)))
        if name:
            found[name] = _plain(tag.values)
    gps_count = sum(key.startswith("GPS ") for key in tags)
    return _with_gps_block(found, "Image GPSInfo" in tags, gps_count)


def _pillow_fields(tiff: bytes) -> dict[str, Any]:
    exif = Image.Exif()
    with _quiet_pillow():
        exif.load(tiff)
        ifds = {
            "Image": dict(exif),
            "EXIF": exif.get_ifd(ExifTags.IFD.Exif),
            "GPS": exif.get_ifd(ExifTags.IFD.GPSInfo),
        }
    found = {}
    for ifd, entries in ifds.items():
        for tag_id, value in entries.items():
            name = _WANTED.get((ifd, tag_id))
            if name:
                found[name] = _plain(value)
    return _with_gps_block(found, _GPS_POINTER in ifds["Image"], len(ifds["GPS"]))


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


def _with_gps_block(found: dict[str, Any], has_pointer: bool, gps_tags: int) -> dict[str, Any]:
    """Note a GPS block that exists but holds nothing, so it can be reported as such."""
    if found and has_pointer and gps_tags == 0:
        found["EmptyGPSBlock"] = True
    return found


def _plain(value: Any) -> str | bytes | tuple[int | float, ...]:
    """Reduce a value to str, bytes or a tuple of numbers, whichever reader it came from."""
    if isinstance(value, str | bytes):
        return value
    if isinstance(value, list | tuple):
        return tuple(_number(item) for item in value)
    return (_number(value),)


def _number(value: Any) -> int | float:
    """An int stays an int; rationals become floats, NaN when the denominator is 0."""
    if isinstance(value, int):
        return value
    if isinstance(value, tuple) and value:  # exifread wraps FLOAT/DOUBLE values in 1-tuples
        value = value[0]
    denominator = getattr(value, "denominator", None)
    try:
        if denominator is not None and not isinstance(value, float):
            return value.numerator / denominator if denominator else math.nan
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _text(value: Any) -> str | None:
    """A tag's text, stripped; None when empty. Copes with text written as bytes or numbers."""
    if value is None:
        return None
    if isinstance(value, tuple):
        try:
            value = bytes(int(item) for item in value)
        except (TypeError, ValueError, OverflowError):
            return None
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    text = str(value).split("\x00", 1)[0].strip()
    return text or None


def _first_int(value: Any) -> int | None:
    try:
        if isinstance(value, bytes | tuple) and value:
            return int(value[0])
        return int(value) if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None


def _maker_note(tiff: bytes) -> bytes | None:
    """The raw MakerNote (0x927C) of the Exif IFD, found with two IFD lookups."""
    try:
        order = {b"II": "<", b"MM": ">"}[tiff[:2]]
        (ifd0,) = struct.unpack_from(order + "I", tiff, 4)
        pointer = _ifd_entry(tiff, order, ifd0, 0x8769)
        if pointer is None:
            return None
        (exif_ifd,) = struct.unpack_from(order + "I", tiff, pointer[1])
        note = _ifd_entry(tiff, order, exif_ifd, 0x927C)
        if note is None:
            return None
        count, value_at = note
        if count > 4:
            (value_at,) = struct.unpack_from(order + "I", tiff, value_at)
        return tiff[value_at : value_at + count]
    except (KeyError, struct.error):
        return None


def _ifd_entry(tiff: bytes, order: str, ifd: int, tag: int) -> tuple[int, int] | None:
    """(count, position of the value field) of ``tag`` in the IFD at ``ifd``, or None."""
    (entries,) = struct.unpack_from(order + "H", tiff, ifd)
    for index in range(entries):
        position = ifd + 2 + 12 * index
        entry_tag, _type, count = struct.unpack_from(order + "HHI", tiff, position)
        if entry_tag == tag:
            return count, position + 8
    return None


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
        tags=_xmp_tags(xmp),
        makernotes=notes,
        error=exif_error,
    )


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


def _gps_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Signed decimal degrees and metres, or None and the reason in gps_problem."""
    latitude, latitude_problem = _coordinate(fields, "GPSLatitude", "NS")
    longitude, longitude_problem = _coordinate(fields, "GPSLongitude", "EW")
    problem = latitude_problem or longitude_problem or _position_problem(latitude, longitude)
    if latitude is None or longitude is None or problem:
        if problem is None and fields.get("EmptyGPSBlock"):
            problem = "empty GPS block"
        return {"gps_problem": problem}
    altitude, altitude_problem = _altitude(fields)
    return {
        "latitude": latitude,
        "longitude": longitude,
        "altitude": altitude,
        "gps_problem": altitude_problem,
    }


def _coordinate(fields: dict[str, Any], tag: str, refs: str) -> tuple[float | None, str | None]:
    """Degrees, minutes, seconds and a hemisphere letter to signed degrees."""
    name = "latitude" if refs == "NS" else "longitude"
    parts = fields.get(tag)
    if parts is None:
        return None, None
    if not isinstance(parts, tuple) or not 1 <= len(parts) <= 3:
        return None, f"{name} unreadable"
    if not all(math.isfinite(part) and part >= 0 for part in parts):
        return None, f"{name} unreadable"
    ref = (_text(fields.get(tag + "Ref")) or "")[:1].upper()
    if not ref:
        return None, f"{name} reference ({refs[0]}/{refs[1]}) missing"
    if ref not in refs:
        return None, f"{name} reference {ref!r} invalid"
    degrees = sum(part / 60**index for index, part in enumerate(parts))
    return (-degrees if ref == refs[1] else degrees), None


def _position_problem(latitude: float | None, longitude: float | None) -> str | None:
    if latitude is None or longitude is None:
        if latitude is None and longitude is None:
            return None
        return "longitude without latitude" if latitude is None else "latitude without longitude"
    if not -90 <= latitude <= 90:
        return f"latitude {_short(latitude)} out of range"
    if not -180 <= longitude <= 180:
        return f"longitude {_short(longitude)} out of range"
    if latitude == 0 and longitude == 0:
        return "GPS 0,0"
    return None


def _altitude(fields: dict[str, Any]) -> tuple[float | None, str | None]:
    """Metres, negative below sea level (GPSAltitudeRef 1); None when no place on Earth has it."""
    parts = fields.get("GPSAltitude")
    if not isinstance(parts, tuple) or not parts or not math.isfinite(parts[0]):
        return None, None
    altitude = float(parts[0])
    if _first_int(fields.get("GPSAltitudeRef")) == 1 and altitude:
        altitude = -altitude
    if not MIN_ALTITUDE_M <= altitude <= MAX_ALTITUDE_M:
        return None, f"altitude {_short(altitude)} m out of range"
    return altitude, None


def _short(number: float) -> str:
    return f"{number:.2f}".rstrip("0").rstrip(".")


# --- XMP keywords ---------------------------------------------------------------------------------

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_KEYWORD_PROPERTIES = (
    "{http://ns.adobe.com/lightroom/1.0/}hierarchicalSubject",
    "{http://purl.org/dc/elements/1.1/}subject",
)


def _xmp_tags(root: ET.Element | None) -> tuple[str, ...]:
    """Keywords: lr:hierarchicalSubject ("Species|Amur leopard"), then dc:subject; no repeats."""
    if root is None:
        return ()
    seen: dict[str, None] = {}
    for prop in _KEYWORD_PROPERTIES:
        for value in _xmp_values(root, prop):
            seen.setdefault(value)
    return tuple(seen)


def _xmp_values(root: ET.Element, prop: str) -> list[str]:
    """The items of an rdf:Bag/rdf:Seq property, or its simple value, or its attribute form."""
    values = []
    for element in root.iter(prop):
        items = [item.text for item in element.iter(_RDF + "li")] or [element.text]
        values.extend(item.strip() for item in items if item and item.strip())
    for description in root.iter(_RDF + "Description"):
        attribute = (description.get(prop) or "").strip()
        if attribute:
            values.append(attribute)
    return values


def _parse_xmp(packet: bytes | None) -> ET.Element | None:
    """Parse the packet, refusing any DTD: XMP never has one, and entities are the XML attacks.

    With no DTD there is nothing to expand, and ElementTree fetches nothing external, which is
    why the stdlib parser is safe here without defusedxml.
    """
    if not packet or (b"ubject" not in packet and b"SerialNumber" not in packet):
        return None  # neither keywords nor a serial: skip the parse
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return None
    end = packet.rfind(b"<?xpacket end")
    close = packet.find(b"?>", end) if end != -1 else -1
    if close != -1:
        packet = packet[: close + 2]  # drop the padding and anything after the packet
    try:
        return ET.fromstring(packet.rstrip(b"\x00 \t\r\n"))  # noqa: S314 - no DTD, see above
    except (ET.ParseError, ValueError):
        return None


def _reason(prefix: str, exc: BaseException) -> str:
    """A one-line, bounded description of an exception for ExifData.error."""
    detail = " ".join(str(exc).split())[:200]
    kind = type(exc).__name__
    return f"{prefix}: {kind}: {detail}" if detail else f"{prefix}: {kind}"
