"""Positions: signed decimal degrees and metres, or None with the reason in gps_problem
(latitude 213, a wrapped altitude of 4294967284 m, exactly 0,0)."""

from __future__ import annotations

import math
from typing import Any

from tracker.exif.tags import _first_int, _text

MAX_ALTITUDE_M = 9000.0  # above Everest: a wrapped negative number, not a place
MIN_ALTITUDE_M = -430.0  # the Dead Sea shore, the lowest dry land


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
