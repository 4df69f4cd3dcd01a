"""The Exif block: the tags we use, from exifread or else Pillow, as plain values; and the
raw maker note, located with two IFD lookups for `tracker.reconyx` to decode."""

from __future__ import annotations

import io
import math
import struct
from typing import Any

import exifread

from tracker.exif.data import _quiet_pillow, _reason

# (IFD, tag id) -> field name; the IFD names are exifread's key prefixes.
_WANTED = {
    ("Image", 0x010F): "Make",
    ("Image", 0x0110): "Model",
    ("Image", 0x0112): "Orientation",
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
    from PIL import ExifTags, Image  # a second opinion, seldom asked: not loaded before

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


def _orientation(value: Any) -> int | None:
    """The Exif orientation (1-8: how to turn the stored pixels upright); None if absent or
    not one of those."""
    if isinstance(value, tuple) and value and value[0] in range(1, 9):
        return int(value[0])
    return None


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
