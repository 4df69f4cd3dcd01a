"""The export formats, listed here explicitly, and `run_export`, which writes one and audits it.

The CLI (`tracker export`) calls `run_export` and commits its audit row at the edge, once the file
is written; the export page streams the file as it is written (tracker.exports.stream).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from sqlalchemy.orm import Session

from tracker import audit
from tracker.errors import InvalidInput
from tracker.exports import camtrapdp, capthist, effort, geojson, tables
from tracker.exports.core import Filters, Options
from tracker.models import AuditLog, User

Writer = Callable[[Session, Filters, BinaryIO, Options], int]
CSV_TYPE = "text/csv; charset=utf-8"
ZIP_TYPE = "application/zip"


@dataclass(frozen=True)
class Format:
    name: str  # as typed: `tracker export --format NAME`
    write: Writer
    suffix: str  # of the downloaded file
    media_type: str
    label: str  # on the export page


FORMATS: tuple[Format, ...] = (
    Format("csv", tables.write_sightings_csv, "csv", CSV_TYPE, "CSV: one row per sighting"),
    Format("events-csv", tables.write_events_csv, "csv", CSV_TYPE,
           "CSV: one row per independent event"),
    Format("geojson", geojson.write_geojson, "geojson", geojson.GEOJSON_TYPE,
           "GeoJSON: sightings as points (or one feature per station)"),
    Format("camtrap-dp", camtrapdp.write, "zip", ZIP_TYPE, "Camtrap DP package (zip)"),
    Format("secr", capthist.write, "zip", ZIP_TYPE, "Capture histories for secr (zip)"),
    Format("effort", effort.write_effort, "csv", CSV_TYPE,
           "CSV: trap-nights and events per 100 trap-nights"),
)  # fmt: skip


def names() -> list[str]:
    return [f.name for f in FORMATS]


def find(name: str) -> Format:
    """The format called `name`; InvalidInput naming the known ones otherwise."""
    for found in FORMATS:
        if found.name == name:
            return found
    raise InvalidInput({"format": f"Unknown format {name!r}; choose one of {', '.join(names())}."})


def check(fmt: str, options: Options) -> Format:
    """The format, if it may be written with these options; InvalidInput otherwise."""
    found = find(fmt)
    if options.public and (problem := options.policy.problem()):
        raise InvalidInput({"grid": problem})
    return found


def audit_export(
    session: Session,
    actor: User | None,
    fmt: str,
    filters: Filters,
    options: Options,
    rows: int | None,
) -> AuditLog:
    """The export's audit row (who, format, filters, public or not, rows), flushed."""
    entry = audit.record(
        session, actor, "export", "export", None, format=fmt, filters=filters.described,
        public=options.public, rows=rows,
    )  # fmt: skip
    session.flush()
    return entry


def run_export(
    session: Session,
    fmt: str,
    filters: Filters,
    out: BinaryIO,
    options: Options,
    actor: User | None = None,
) -> int:
    """Write one export and add its audit row (who, format, filters, row count); the caller
    commits. (The export page streams instead: tracker.exports.stream.)"""
    found = check(fmt, options)
    rows = found.write(session, filters, out, options)
    audit_export(session, actor, fmt, filters, options, rows)
    return rows
