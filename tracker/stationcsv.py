"""Stations from a CSV file (code, name, latitude, longitude[, notes]): created, updated or left
as they are, all or nothing, every bad line named. The web's station page and `tracker station
import` take the same file."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.errors import InvalidInput
from tracker.fieldwork import create_station, update_station
from tracker.models import Station, User


@dataclass
class StationImport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def import_stations(session: Session, text: str, actor: User | None = None) -> StationImport:
    """Create or update stations from CSV (code, name, latitude, longitude[, notes]).

    All or nothing: if any line is bad, every bad line is reported and nothing is written.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = {"code", "latitude", "longitude"} - set(header)
    if missing:
        raise InvalidInput({"file": f"Missing column(s): {', '.join(sorted(missing))}."})
    reader.fieldnames = header
    result, errors, seen = StationImport(), {}, set()
    for line, row in enumerate(reader, start=2):
        code = (row.get("code") or "").strip()
        try:
            fields = _station_row(row)
            if code.lower() in seen:
                raise InvalidInput({"code": f"Station {code} appears twice in the file."})
            seen.add(code.lower())
            _import_row(session, code, fields, result, actor)
        except InvalidInput as exc:
            errors[f"line {line}"] = str(exc)
    if errors:
        raise InvalidInput(errors)
    return result


def _station_row(row: dict) -> dict:
    parsed = {"name": (row.get("name") or "").strip(), "notes": (row.get("notes") or "").strip()}
    for key in ("latitude", "longitude"):
        try:
            parsed[key] = float((row.get(key) or "").strip())
        except ValueError:
            parsed[key] = None
    return parsed


def _import_row(session, code, fields, result, actor) -> None:
    station = session.scalar(select(Station).where(Station.code == code))
    if station is None:
        create_station(session, code=code, actor=actor, **fields)
        result.created.append(code)
    elif update_station(session, station, actor=actor, **fields):
        result.updated.append(code)
    else:
        result.unchanged.append(code)
