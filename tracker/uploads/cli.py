"""The commands that bring photos in from disk and look after the media folder: `tracker import`
(files, folders and zips, to a deployment or a station's, as an uploaded card goes), `inspect`,
`previews` and `media clean`."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

import click

from tracker.cli import fail, with_app
from tracker.errors import InvalidInput

# Flask, SQLAlchemy and the models are imported inside the commands: `tracker import` reads its
# options with this module before they load (start_early).


def _resolve_deployment(session, deployment_id: int | None, station_code: str | None, items):
    """The deployment, or the station's one covering the photos' dates (as an upload's is)."""
    from tracker import fieldwork
    from tracker.uploads import destination

    try:
        if deployment_id is not None:
            return fieldwork.deployment_for_upload(session, deployment_id, None), items
        _none, station = destination.check(session, None, station_code)
        dates, items = destination.sample_dates(items)
        return destination.deployment_for_card(session, station, dates), items
    except InvalidInput as exc:
        fail(exc)


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--deployment", "deployment_id", type=int, help="Deployment id.")
@click.option(
    "--station",
    "station_code",
    help="Station code (any case): its deployment covering the photos' dates, else its active one.",
)
@click.option(
    "--previews",
    is_flag=True,
    help="Make each new photo's preview and thumbnail as it lands, as an uploaded card's import "
    "does: the card is browsable at the end.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, then a summary.")
@with_app
def import_command(paths, deployment_id, station_code, previews, as_json):
    """Import images from files, folders (recursively) and zips.

    Exit status: 0 when nothing was rejected, 1 when some files were rejected, 2 on a usage error.
    """
    from flask import current_app

    from tracker import ingest
    from tracker.db import get_session
    from tracker.sightings import TagRules

    if (deployment_id is None) == (station_code is None):
        click.echo("error: give exactly one of --deployment ID or --station CODE", err=True)
        sys.exit(2)
    session = get_session()
    media_dir, limits = current_app.config["MEDIA_DIR"], ingest.Limits()
    items = _take_early(paths, deployment_id, previews, media_dir) or _items(paths, limits)
    deployment, items = _resolve_deployment(session, deployment_id, station_code, items)
    show = _json_line if as_json else _ImportProgress()
    report = ingest.ingest(
        session,
        items,
        deployment,
        media_dir,
        limits=limits,
        on_outcome=show,
        tag_rules=TagRules.from_config(current_app.config),
        previews=previews,
    )
    for leftover in report.leftovers:
        click.echo(f"removed {leftover.path} ({leftover.bytes} bytes), left by an import that "
                   "was killed", err=True)  # fmt: skip
    if as_json:
        removed = [asdict(leftover) for leftover in report.leftovers]
        click.echo(json.dumps({"summary": report.summary, "deployment_id": deployment.id,
                               "leftovers_removed": removed}))  # fmt: skip
    else:
        show.finish(report)
    sys.exit(1 if report.count("rejected") else 0)


def _items(paths, limits):
    from tracker import sources

    return sources.path_items(paths, sources.ZipLimits(max_file_bytes=limits.max_file_bytes))


# An import started by start_early, and what it was started for: (key, Preparation).
_started: tuple | None = None


def start_early(args: list[str]):
    """Start preparing the photos of `tracker import PATH... --deployment N` (`args` after
    "import") before the app loads, held until the import has checked the deployment
    (tracker.preparation.Gate); the Preparation, or None for any other import. With --station
    the deployment depends on the photos' dates, which are read first.
    """
    global _started
    try:
        options = import_command.make_context("import", list(args), resilient_parsing=True).params
        if not options.get("paths") or options.get("deployment_id") is None:
            return None
        if options.get("station_code") is not None:
            return None
        from tracker import config
        from tracker.preparation import Preparation
        from tracker.preparing import Limits, StoreBudget

        media_dir = config.media_dir(config.instance_path())
        limits = Limits()
        items = _items(options["paths"], limits)
        previews = bool(options.get("previews"))
        preparation = Preparation(items, media_dir, limits, StoreBudget(None), previews, held=True)
    except (click.ClickException, RuntimeError, OSError):
        return None  # the command itself says what is wrong, as it would have anyway
    key = (tuple(options["paths"]), options["deployment_id"], previews, media_dir)
    _started = (key, preparation)
    return preparation


def _take_early(paths, deployment_id: int | None, previews: bool, media_dir: str):
    """The import start_early began for these options, if any."""
    global _started
    if _started is None:
        return None
    (key, preparation), _started = _started, None
    if key == (tuple(paths), deployment_id, previews, media_dir):
        return preparation
    preparation.abandon()
    return None


def _json_line(outcome) -> None:
    fields = ("path", "status", "image_id", "reason", "warnings")
    values = (outcome.name, outcome.status, outcome.image_id, outcome.reason, outcome.warnings)
    click.echo(json.dumps(dict(zip(fields, values, strict=True))))


class _ImportProgress:
    """A running count on a terminal; rejected files are named as they happen."""

    def __init__(self) -> None:
        self.tty = sys.stdout.isatty()
        self.seen = 0

    def __call__(self, outcome) -> None:
        self.seen += 1
        if outcome.status == "rejected":
            click.echo(f"\rrejected {outcome.name}: {outcome.reason}", err=True)
        for warning in outcome.warnings:
            click.echo(f"\rwarning {outcome.name}: {warning}", err=True)
        if self.tty and self.seen % 10 == 0:
            click.echo(f"\r{self.seen} files read...", nl=False)

    def finish(self, report) -> None:
        if self.tty:
            click.echo("\r", nl=False)
        s = report.summary
        click.echo(
            f"{s['added']} added, {s['duplicate']} already present, {s['rejected']} rejected"
        )


@click.command("inspect")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
def inspect_command(paths, as_json):
    """Show what the tracker reads from files and folders, without touching the database."""
    from tracker import exif

    for path in _files(paths):
        data = path.read_bytes()
        found = exif.to_json_dict(str(path), hashlib.sha256(data).hexdigest(), exif.read_exif(path))
        if as_json:
            click.echo(json.dumps(found))
        else:
            click.echo(_describe(found))


def _files(paths):
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        else:
            yield path


def _describe(found: dict) -> str:
    if found["error"]:
        return f"{found['path']}: UNREADABLE: {found['error']}"
    place = (
        f"{found['latitude']:.6f}, {found['longitude']:.6f}"
        if found["latitude"] is not None
        else "no GPS"
    )
    camera = " ".join(filter(None, (found["make"], found["model"]))) or "unknown camera"
    taken = found["taken_at"] or "no time"
    offset = f" {found['utc_offset']}" if found["utc_offset"] else ""
    tags = f" tags: {', '.join(found['tags'])}" if found["tags"] else ""
    return f"{found['path']}: {taken}{offset}, {place}, {camera}{tags}"


@click.command("previews")
@click.option("--workers", type=int, default=None, help="Processes (default: one per core).")
@with_app
def previews_command(workers: int | None) -> None:
    """Make the missing thumbnails and previews of all images, spread over the cores."""
    from flask import current_app
    from sqlalchemy import select

    from tracker import previews
    from tracker.db import get_session
    from tracker.models import Image

    hashes = list(get_session().scalars(select(Image.sha256)))
    failures = previews.make_missing(current_app.config["MEDIA_DIR"], hashes, workers)
    for failure in failures:
        click.echo(f"could not make a preview: {failure}", err=True)
    click.echo(f"{len(hashes) - len(failures)} images have previews")
    sys.exit(1 if failures else 0)


@click.group("media")
def media_group() -> None:
    """The media folder."""


@media_group.command("clean")
@with_app
def media_clean() -> None:
    """Remove the temporary files that killed imports left in the media folder.

    Files being written by a running import or web upload, or by another machine sharing the
    folder, are left alone. Each import does the same in the folder it writes to first.
    """
    from flask import current_app

    from tracker import storage

    removed = storage.remove_leftovers(current_app.config["MEDIA_DIR"], everywhere=True)
    for leftover in removed:
        click.echo(f"removed {leftover.path} ({leftover.bytes} bytes)")
    click.echo(f"{len(removed)} leftover file{'' if len(removed) == 1 else 's'} removed")
