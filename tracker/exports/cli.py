"""`tracker export`: the same exports as the export page, written to a file in full or not at
all, and audited."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from tracker.cli import fail
from tracker.db import get_session
from tracker.errors import InvalidInput


@click.command("export")
@click.option(
    "--format", "fmt", required=True, help="csv, events-csv, geojson, camtrap-dp, secr, effort."
)
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from", "date_from", metavar="YYYY-MM-DD", help="First local date (inclusive).")
@click.option("--to", "date_to", metavar="YYYY-MM-DD", help="Last local date (inclusive).")
@click.option("--species", help="Scientific or common name.")
@click.option("--individual", help="Individual code (a former code finds it too).")
@click.option("--station", "stations", multiple=True, help="Station code; repeat for several.")
@click.option("--public", is_flag=True, help="Coordinates generalised to the public grid.")
@click.option("--per-station", is_flag=True, help="GeoJSON: one feature per station.")
@click.option(
    "--occasion-days", type=click.IntRange(1, 366), default=1, show_default=True,
    help="secr: the length of one sampling occasion.",
)  # fmt: skip
@click.option("--include-media", is_flag=True, help="camtrap-dp: put the image files in the zip.")
@click.option(
    "--with-people", is_flag=True,
    help="camtrap-dp with --include-media: photos of people as taken (default: person boxes "
    "blurred, as for roles without see_people).",
)  # fmt: skip
@click.option(
    "--base-url", default="",
    help="camtrap-dp: the app's address, for media URLs (default TRACKER_BASE_URL).",
)  # fmt: skip
@click.option(
    "--session", "sessions", multiple=True, metavar="NAME:FROM:TO",
    help="secr: a survey session (local dates, inclusive); repeat for several, none overlapping.",
)  # fmt: skip
@with_appcontext
def export_command(fmt, out_path, date_from, date_to, species, individual, stations, public,
                   per_station, occasion_days, include_media, with_people, base_url,
                   sessions):  # fmt: skip
    """Export sightings, events or effort to a file, written in full or not at all.

    Exit status 2, and no file, when a filter or the format is refused; an empty result is a file
    with its header. Every export is recorded in the audit log.
    """
    from tracker import clock
    from tracker.exports import formats
    from tracker.exports.capthist import parse_sessions
    from tracker.exports.core import Filters, options_from_config

    session = get_session()
    try:
        formats.find(fmt)
        if not out_path.parent.is_dir():
            raise InvalidInput({"out": f"There is no folder {out_path.parent}."})
        filters = Filters.parse(
            session, date_from=date_from, date_to=date_to, stations=stations, species=species,
            individual=individual,
        )  # fmt: skip
        surveys = parse_sessions(sessions)
    except InvalidInput as exc:
        fail(exc)
    config = current_app.config
    options = options_from_config(
        config, clock.now(), public=public, per_station=per_station, sessions=surveys,
        occasion_days=occasion_days, include_media=include_media, blur_people=not with_people,
        base_url=base_url.rstrip("/") or config.get("BASE_URL", ""),
    )  # fmt: skip

    def write(out) -> int:
        rows = formats.run_export(session, fmt, filters, out, options)
        session.commit()  # the audit row, once the file is written
        return rows

    try:  # a format may refuse an option (a public capture history): no file, exit 2
        rows = write_whole(out_path, write)
    except InvalidInput as exc:
        fail(exc)
    click.echo(f"{rows} rows written to {out_path}")


def write_whole(path: Path, write):
    """Call write(binary file) on a new file beside `path`, and rename it to `path` only when
    write returns: an interrupted export never leaves a half-written file under the real name."""
    part = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with part.open("xb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)
    return result
