"""The `tracker` command group: the Flask CLI for this app, with the database, account, station,
deployment and worker commands. Each area's own commands live beside it (tracker.uploads.cli:
import, inspect, previews, media; tracker.exports.cli; tracker.detections.cli; tracker.reid.cli;
tracker.demo) and are registered here. tracker.cli runs it.

Each command parses its options, calls the same domain function as the web form, commits, and
prints the result. Bad input prints the reasons and exits with status 2.
"""

from __future__ import annotations

import gc
import os
import sys
from datetime import date

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, ScriptInfo, with_appcontext
from sqlalchemy.exc import DBAPIError

from tracker import accounts, clock, db_errors, fieldwork, outages, stationcsv
from tracker.cli import fail
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
    # What the app built lives as long as the command: the garbage collector need not walk it
    # again and again while the command works. (The `tracker` entry point froze what the imports
    # built before switching the collector back on, tracker.cli; an app made without it, as the
    # tests make theirs, has both frozen here.)
    gc.freeze()
    return app


def run() -> None:
    """Run the command line asks for, with one line for a database it cannot use."""
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
    for command in (db_group, user_group, station_group, deployment_group, worker_command):
        app.cli.add_command(command)
    from tracker.exports.cli import export_command
    from tracker.uploads.cli import import_command, inspect_command, media_group, previews_command

    for command in (import_command, inspect_command, previews_command, media_group, export_command):
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
        result = stationcsv.import_stations(session, csv_file.read())
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
