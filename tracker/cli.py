"""The `tracker` command: the Flask CLI for this app, plus field and admin commands.

Each command parses its options, calls the same domain function as the web form, commits, and
prints the result. Bad input prints the reasons and exits with status 2.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import secrets
import sys
from dataclasses import asdict
from datetime import date
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from sqlalchemy.exc import DBAPIError

from tracker import accounts, clock, db_errors, fieldwork, outages
from tracker.db import get_session
from tracker.errors import InvalidInput
from tracker.models import ROLES


class TrackerGroup(FlaskGroup):
    """Flask's command group, with the web pages only for the commands that serve or show them.

    Flask's own `run`, `routes` and `shell` get the whole app; the tracker's commands get it
    without its pages (create_app(web=False)), which they never use.
    """

    WEB_COMMANDS = frozenset({"run", "routes", "shell"})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.WEB_COMMANDS:
            from tracker import create_app

            if name == "run":
                # The development server speaks plain HTTP: Secure cookies would never come back.
                os.environ.setdefault("TRACKER_SECURE_COOKIES", "0")

            # Before anything loads the app: Flask's commands load it through this ScriptInfo.
            ctx.ensure_object(ScriptInfo).create_app = create_app
        return super().get_command(ctx, name)


# The database the command's app was configured with, for a message when it cannot be reached.
_database_url: str | None = None


def _command_app() -> Flask:
    from tracker import create_app

    global _database_url
    app = create_app(web=False)
    _database_url = app.config["DATABASE_URL"]
    # What the imports and the app built lives as long as the command: the garbage collector
    # need not walk it again and again while the command works (an import's thousand photos
    # otherwise cost a full collection over ~100,000 objects, twice).
    gc.freeze()
    return app


def main() -> None:
    cli = TrackerGroup(create_app=_command_app, help="The leopard camera-trap tracker.")
    try:
        cli.main(prog_name="tracker")
    except DBAPIError as exc:
        if db_errors.unavailable(exc):
            # One line, whichever command: which database (no password), and the driver's words.
            url = _database_url or os.environ.get("DATABASE_URL", "the configured database")
            click.echo(f"error: {db_errors.unavailable_message(url, exc)}", err=True)
            sys.exit(3)
        if not _schema_missing(exc):
            raise
        click.echo(
            "error: the database has no tracker tables yet, or an older schema: "
            "run `tracker db upgrade` first",
            err=True,
        )
        sys.exit(1)


def _schema_missing(exc: DBAPIError) -> bool:
    """A table or column the code needs is not in the database (SQLite, PostgreSQL)."""
    if getattr(exc.orig, "sqlstate", None) in {"42P01", "42703"}:  # undefined table, column
        return True
    return str(exc.orig).startswith(("no such table", "no such column"))


def register_commands(app: Flask) -> None:
    for command in (
        db_group,
        user_group,
        station_group,
        deployment_group,
        import_command,
        inspect_command,
        previews_command,
        media_group,
        export_command,
        worker_command,
    ):
        app.cli.add_command(command)
    from tracker import demo
    from tracker.detections.cli import detections_group

    app.cli.add_command(demo.demo_command)
    app.cli.add_command(detections_group)
    from tracker.reid.cli import identify_command, reference_command

    app.cli.add_command(identify_command)
    app.cli.add_command(reference_command)


@click.command("worker")
@click.option("--threads", default=2, show_default=True, help="Jobs run at once.")
@with_appcontext
def worker_command(threads: int) -> None:
    """Run background jobs (card imports, previews) until stopped with Ctrl-C or SIGTERM."""
    import logging

    from tracker.db import engine
    from tracker.jobs import worker

    engine().connect().close()  # a database that cannot be reached is said now, in one line
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    worker.serve(current_app._get_current_object(), threads)


def fail(exc: InvalidInput) -> None:
    """Print every reason input was refused, and exit with the usage-error status."""
    for field, message in exc.errors.items():
        click.echo(f"error: {field}: {message}", err=True)
    sys.exit(2)


def database_url() -> str:
    return current_app.config["DATABASE_URL"]


def _migrate():
    # Alembic is imported only by the commands that need it: it doubles every command's start-up.
    from tracker import migrate

    return migrate


@click.group("db")
def db_group() -> None:
    """Schema migrations of the configured database."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@with_appcontext
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    _migrate().upgrade(database_url(), revision)
    click.echo(f"database at {_migrate().current(database_url()) or 'empty'}")


@db_group.command("downgrade", context_settings={"ignore_unknown_options": True})
@click.argument("revision")
@with_appcontext
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION (e.g. -1, or base)."""
    _migrate().downgrade(database_url(), revision)


@db_group.command("check")
@with_appcontext
def db_check() -> None:
    """Exit non-zero when the models and the migrations differ."""
    problem = _migrate().check(database_url())
    if problem:
        click.echo(f"models and migrations differ: {problem}", err=True)
        sys.exit(1)
    click.echo("models and migrations agree")


@db_group.command("current")
@with_appcontext
def db_current() -> None:
    """Show the revision the database is at."""
    click.echo(_migrate().current(database_url()) or "no revision (empty database)")


@db_group.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Write a new migration from the difference between models and database."""
    _migrate().revision(database_url(), message)


@click.group("user")
def user_group() -> None:
    """User accounts."""


@user_group.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def user_add(email: str, role: str, password_stdin: bool) -> None:
    """Create an account; prompts for the password unless --password-stdin."""
    password = _read_password(password_stdin)
    session = get_session()
    try:
        user = accounts.create_user(session, email, password, role)
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(f"created {user.role} {user.email}")


@user_group.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@with_appcontext
def user_set_password(email: str, password_stdin: bool) -> None:
    """Give an account a new password (prompts unless --password-stdin); ends its sessions."""
    session = get_session()
    try:
        user = accounts.find_user(session, email)
        password = _read_password(password_stdin)
        accounts.set_password(session, user, password, actor=None)
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(f"new password set for {user.email}; every session of the account has ended")


@user_group.command("deactivate")
@click.argument("email")
@with_appcontext
def user_deactivate(email: str) -> None:
    """Stop an account from signing in, and end every session it has."""
    session = get_session()
    try:
        user = accounts.find_user(session, email)
        accounts.deactivate(session, user, actor=None)
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(f"deactivated {user.email}; every session of the account has ended")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@user_group.command("token")
@click.argument("email")
@click.option("--name", default="command line", show_default=True, help="What the token is for.")
@with_appcontext
def user_token(email: str, name: str) -> None:
    """Print a new personal API token for EMAIL's account (shown once; stored hashed).

    Send it as `Authorization: Bearer <token>`; the account page lists and revokes tokens.
    """
    from tracker import tokens
    from tracker.models import utcnow

    session = get_session()
    try:
        user = accounts.find_user(session, email)
        if not user.active:
            raise InvalidInput({"email": f"The account {user.email} is deactivated."})
        _token, secret = tokens.issue(session, user, name, None, utcnow())
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(secret)


@click.group("station")
def station_group() -> None:
    """Camera stations."""


@station_group.command("add")
@click.argument("code")
@click.option("--lat", "latitude", type=float, required=True)
@click.option("--lon", "longitude", type=float, required=True)
@click.option("--name", default="")
@with_appcontext
def station_add(code: str, latitude: float, longitude: float, name: str) -> None:
    """Create a station with code CODE."""
    session = get_session()
    try:
        station = fieldwork.create_station(
            session, code=code, latitude=latitude, longitude=longitude, name=name
        )
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(f"created station {station.code} (id {station.id})")


@station_group.command("import")
@click.argument("csv_file", type=click.File("r", encoding="utf-8-sig"))
@with_appcontext
def station_import(csv_file) -> None:
    """Create or update stations from a CSV file (code, name, latitude, longitude)."""
    session = get_session()
    try:
        result = fieldwork.import_stations(session, csv_file.read())
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(
        f"{len(result.created)} created, {len(result.updated)} updated, "
        f"{len(result.unchanged)} unchanged"
    )


@click.group("deployment")
def deployment_group() -> None:
    """Camera deployments."""


class IsoDate(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value, param, ctx):
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not a date in the form YYYY-MM-DD", param, ctx)


@deployment_group.command("add")
@click.option("--station", "station_code", required=True, help="Station code.")
@click.option("--start", "start_date", type=IsoDate(), required=True)
@click.option("--end", "end_date", type=IsoDate(), default=None)
@click.option("--timezone", default=None, help="IANA time zone (default TRACKER_TIMEZONE).")
@click.option("--camera-serial", default="")
@click.option("--clock-offset", "clock_offset_s", type=int, default=0, help="Seconds to add.")
@with_appcontext
def deployment_add(station_code, start_date, end_date, timezone, camera_serial, clock_offset_s):
    """Create a deployment and print its id."""
    session = get_session()
    park_zone = current_app.config["TIMEZONE"]
    data = fieldwork.DeploymentInput(
        start_date=start_date,
        end_date=end_date,
        timezone=timezone or park_zone,
        camera_serial=camera_serial,
        clock_offset_s=clock_offset_s,
        today=clock.today_for(timezone or park_zone, park_zone),
    )
    try:
        station = fieldwork.station_by_code(session, station_code)
        deployment = fieldwork.create_deployment(session, station, data)
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(deployment.id)


@deployment_group.command("outage")
@click.argument("deployment_id", type=int)
@click.option("--from", "start_date", type=IsoDate(), required=True, help="First day not working.")
@click.option("--to", "end_date", type=IsoDate(), default=None, help="Day it worked again.")
@click.option("--reason", default="", help="e.g. card full, batteries flat.")
@with_appcontext
def deployment_outage(deployment_id, start_date, end_date, reason):
    """Record days a deployed camera was not working; print the outage's id.

    Effort and capture histories leave those days out. Without --to, the camera never worked
    again before the deployment ended.
    """
    session = get_session()
    try:
        deployment = fieldwork.deployment_for_upload(session, deployment_id, None)
        outage = outages.add_outage(session, deployment, start_date, end_date, reason)
    except InvalidInput as exc:
        fail(exc)
    session.commit()
    click.echo(outage.id)


def _resolve_deployment(session, deployment_id: int | None, station_code: str | None, items):
    """The deployment, or the station's one covering the photos' dates (as an upload's is)."""
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
@with_appcontext
def import_command(paths, deployment_id, station_code, previews, as_json):
    """Import images from files, folders (recursively) and zips.

    Exit status: 0 when nothing was rejected, 1 when some files were rejected, 2 on a usage error.
    """
    from tracker import ingest, sources
    from tracker.sightings import TagRules

    if (deployment_id is None) == (station_code is None):
        click.echo("error: give exactly one of --deployment ID or --station CODE", err=True)
        sys.exit(2)
    session = get_session()
    limits = ingest.Limits()
    items = sources.path_items(paths, sources.ZipLimits(max_file_bytes=limits.max_file_bytes))
    deployment, items = _resolve_deployment(session, deployment_id, station_code, items)
    show = _json_line if as_json else _ImportProgress()
    report = ingest.ingest(
        session,
        items,
        deployment,
        current_app.config["MEDIA_DIR"],
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
@with_appcontext
def previews_command(workers: int | None) -> None:
    """Make the missing thumbnails and previews of all images, spread over the cores."""
    from sqlalchemy import select

    from tracker import previews
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
@with_appcontext
def media_clean() -> None:
    """Remove the temporary files that killed imports left in the media folder.

    Files being written by a running import or web upload, or by another machine sharing the
    folder, are left alone. Each import does the same in the folder it writes to first.
    """
    from tracker import storage

    removed = storage.remove_leftovers(current_app.config["MEDIA_DIR"], everywhere=True)
    for leftover in removed:
        click.echo(f"removed {leftover.path} ({leftover.bytes} bytes)")
    click.echo(f"{len(removed)} leftover file{'' if len(removed) == 1 else 's'} removed")


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
