"""The export formats, listed here explicitly, and `run_export`, which writes one and audits it.

The CLI (`tracker export`) and the export page call `run_export` and commit its audit row: the
commit happens at the edge, once the file is written.
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
from tracker.models import User

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


def run_export(
    session: Session,
    fmt: str,
    filters: Filters,
    out: BinaryIO,
    options: Options,
    actor: User | None = None,
) -> int:
    """Write one export and add its audit row (who, format, filters, row count); the caller
    commits."""
    found = find(fmt)
    if options.public and (problem := options.policy.problem()):
        raise InvalidInput({"grid": problem})
    rows = found.write(session, filters, out, options)
    audit.record(
        session, actor, "export", "export", None, format=fmt, filters=filters.described,
        public=options.public, rows=rows,
    )  # fmt: skip
    session.flush()
    return rows
