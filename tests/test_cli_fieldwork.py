"""The field commands: `tracker station add|import`, `tracker deployment add`, `tracker user add`.

Good input prints what was made; bad input prints every reason, exits with status 2 and writes
nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest
from conftest import fetch, row_counts, sign_in
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from tracker.db import get_session
from tracker.models import AuditLog, Camera, Deployment, Station, User

GOOD_CSV = "code,name,latitude,longitude,notes\nKP-01,Ridge,43.1,131.9,\nKP-02,Creek,43.2,131.8,\n"


def invoke(runner, *args: str, input: str | None = None):
    return runner.invoke(args=list(args), input=input)


@pytest.fixture
def station(runner):
    result = invoke(runner, "station", "add", "KP-01", "--lat", "43.1", "--lon", "131.9")
    assert result.exit_code == 0, result.output
    return "KP-01"


# --- station add --------------------------------------------------------------------------------


def test_station_add(app, runner):
    result = invoke(
        runner, "station", "add", "KP-07", "--lat", "43.12", "--lon", "131.9", "--name", "Ridge"
    )
    assert result.exit_code == 0, result.output
    [(station_id, name, lat, lon)] = fetch(
        app, select(Station.id, Station.name, Station.latitude, Station.longitude)
    )
    assert result.stdout == f"created station KP-07 (id {station_id})\n"
    assert (name, lat, lon) == ("Ridge", 43.12, 131.9)
    assert fetch(app, select(AuditLog.action, AuditLog.entity, AuditLog.user_id)) == [
        ("create", "station", None)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["KP-08", "--lat", "95", "--lon", "131"], "error: latitude: Latitude must be a number"),
        (["KP-08", "--lat", "43", "--lon", "-200"], "error: longitude: Longitude must be a number"),
        (["KP 08", "--lat", "43", "--lon", "131"], "error: code: Use 1 to 32 letters"),
        (["KP-01", "--lat", "43", "--lon", "131"], "error: code: Station KP-01 already exists."),
        (
            ["kp-01", "--lat", "43", "--lon", "131"],
            "error: code: Station KP-01 already exists (codes are compared regardless of case).",
        ),
        (["KP-08", "--lat", "abc", "--lon", "131"], "'abc' is not a valid float"),
        (["KP-08", "--lon", "131"], "Missing option '--lat'"),
    ],
    ids=["latitude", "longitude", "code", "duplicate", "case", "not-a-number", "missing"],
)
def test_station_add_refuses_bad_input(app, runner, station, args, message):
    before = row_counts(app)
    result = invoke(runner, "station", "add", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert row_counts(app) == before


# --- station import -----------------------------------------------------------------------------


def test_station_import(app, runner, tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text(GOOD_CSV, encoding="utf-8")
    result = invoke(runner, "station", "import", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == "2 created, 0 updated, 0 unchanged\n"
    path.write_text(GOOD_CSV.replace("Creek", "Creek mouth") + "KP-03,,44,132,\n")
    result = invoke(runner, "station", "import", str(path))
    assert result.stdout == "1 created, 1 updated, 1 unchanged\n"
    assert dict(fetch(app, select(Station.code, Station.name))) == {
        "KP-01": "Ridge",
        "KP-02": "Creek mouth",
        "KP-03": "",
    }
    actions = [a for (a,) in fetch(app, select(AuditLog.action).order_by(AuditLog.id))]
    assert actions == ["create", "create", "update", "create"]


def test_station_import_with_bad_lines_writes_nothing(app, runner, tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text(
        "code,name,latitude,longitude\n"
        "KP-01,Good,43.1,131.9\n"
        "KP-02,Bad latitude,north,131.8\n"
        "KP 03,Bad code,43.3,131.7\n"
        "KP-04,Good,43.4,131.6\n"
        "KP-01,Twice,43.1,131.9\n"
        "kp-04,Twice in lower case,43.4,131.6\n",
        encoding="utf-8",
    )
    before = row_counts(app)
    result = invoke(runner, "station", "import", str(path))
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "error: line 3: latitude: Latitude must be a number from -90 to 90.",
        "error: line 4: code: Use 1 to 32 letters, digits or hyphens, starting with a letter or "
        "digit.",
        "error: line 6: code: Station KP-01 appears twice in the file.",
        "error: line 7: code: Station kp-04 appears twice in the file.",
    ]
    assert row_counts(app) == before


def test_station_import_without_the_columns(app, runner, tmp_path):
    path = tmp_path / "stations.csv"
    path.write_text("name,lat,lon\nRidge,43,131\n", encoding="utf-8")
    result = invoke(runner, "station", "import", str(path))
    assert result.exit_code == 2
    assert "Missing column(s): code, latitude, longitude." in result.stderr
    assert fetch(app, select(func.count()).select_from(Station)) == [(0,)]


# --- deployment add -----------------------------------------------------------------------------


def test_deployment_add_prints_the_id(app, runner, station):
    result = invoke(
        runner, "deployment", "add", "--station", "KP-01", "--start", "2024-04-01",
        "--camera-serial", "H500-1", "--clock-offset", "-30",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [row] = fetch(
        app,
        select(
            Deployment.id,
            Deployment.start_date,
            Deployment.end_date,
            Deployment.timezone,
            Deployment.clock_offset_s,
            Camera.serial,
        ).join(Camera),
    )
    assert result.stdout == f"{row.id}\n"
    assert row[1:] == (date(2024, 4, 1), None, app.config["TIMEZONE"], -30, "H500-1")
    assert ("create", "deployment") in fetch(app, select(AuditLog.action, AuditLog.entity))


def test_deployment_add_with_end_and_zone(app, runner, station):
    result = invoke(
        runner, "deployment", "add", "--station", "KP-01", "--start", "2023-01-01",
        "--end", "2023-03-31", "--timezone", "Asia/Shanghai",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert fetch(app, select(Deployment.end_date, Deployment.timezone)) == [
        (date(2023, 3, 31), "Asia/Shanghai")
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--station", "KP-01", "--start", "2024-05-01", "--end", "2024-04-30"],
            "error: end_date: The deployment cannot end before it starts.",
        ),
        (["--station", "KP-99", "--start", "2024-05-01"], "error: station: No station with code"),
        (
            ["--station", "KP-01", "--start", "2024-05-01", "--timezone", "Mars/Olympus"],
            "error: timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (["--station", "KP-01", "--start", "01.05.2024"], "is not a date in the form YYYY-MM-DD"),
        (
            ["--station", "KP-01", "--start", "2024-05-01", "--clock-offset", "3000000000"],
            "error: clock_offset_s: A clock correction of more than 60 years is not plausible.",
        ),
        (
            ["--station", "KP-01", "--start", "2024-06-01", "--camera-serial", "H500-1"],
            "error: camera_serial: Camera H500-1 is already deployed at station KP-01",
        ),
        (
            ["--station", "KP-01", "--start", "1989-12-31"],
            "error: start_date: A start before 1990 is not plausible.",
        ),
        (
            ["--station", "KP-01", "--start", "2999-01-01"],
            "error: start_date: The start date is in the future (today is",
        ),
        (
            ["--station", "kp-01", "--start", "2024-05-01", "--end", "2999-01-01"],
            "error: end_date: The end date is in the future (today is",
        ),
    ],
    ids=[
        "end-before-start",
        "unknown-station",
        "unknown-timezone",
        "bad-date",
        "offset",
        "camera",
        "before-1990",
        "future-start",
        "future-end",
    ],
)
def test_deployment_add_refuses_bad_input(app, runner, station, args, message):
    first = ["--station", "KP-01", "--start", "2024-04-01", "--camera-serial", "H500-1"]
    assert invoke(runner, "deployment", "add", *first).exit_code == 0
    before = row_counts(app)
    result = invoke(runner, "deployment", "add", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""
    assert row_counts(app) == before


# --- user add -----------------------------------------------------------------------------------


def test_user_add_then_sign_in(app, runner, client):
    password = "a long field password"
    result = invoke(
        runner, "user", "add", "Ranger2@Park.test", "--role", "ranger", "--password-stdin",
        input=password + "\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout == "created ranger ranger2@park.test\n"
    assert fetch(app, select(User.email, User.role, User.active)) == [
        ("ranger2@park.test", "ranger", True)
    ]
    assert fetch(app, select(AuditLog.action, AuditLog.entity)) == [("create", "user")]
    assert sign_in(client, "ranger2@park.test", "wrong password!").status_code == 200
    assert sign_in(client, "ranger2@park.test", password).status_code == 302
    assert client.get("/").status_code == 200


@pytest.mark.parametrize(
    ("email", "role", "password", "message"),
    [
        ("x@park.test", "emperor", "a long password", "'emperor' is not one of"),
        ("ranger@park.test", "ranger", "a long password", "error: email: A user with email"),
        ("x@park.test", "ranger", "short", "error: password: Use 10 to 200 characters."),
        ("not-an-email", "ranger", "a long password", "error: email: Enter a valid email"),
    ],
    ids=["bad-role", "duplicate", "short-password", "bad-email"],
)
def test_user_add_refuses_bad_input(app, runner, users, email, role, password, message):
    before = row_counts(app)
    result = invoke(
        runner, "user", "add", email, "--role", role, "--password-stdin", input=password + "\n"
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert row_counts(app) == before


def test_a_database_without_tables_gets_a_clear_message(empty_database_url, tmp_path):
    """Through the real `tracker` entry point: no traceback, the command to run, exit 1."""
    env = {**os.environ, "DATABASE_URL": empty_database_url, "TRACKER_INSTANCE_PATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", "from tracker.cli import main; main()", "export", "--format", "csv",
         "--out", str(tmp_path / "sightings.csv")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "run `tracker db upgrade` first" in done.stderr
    assert "Traceback" not in done.stderr


def test_only_flasks_own_commands_build_the_pages(empty_database_url, tmp_path):
    """Through the real `tracker` entry point: `routes` lists the pages; the tracker's commands
    run on the app without them (every other test here runs them that way too)."""
    env = {**os.environ, "DATABASE_URL": empty_database_url, "TRACKER_INSTANCE_PATH": str(tmp_path)}
    entry = [sys.executable, "-c", "from tracker.cli import main; main()"]
    routes = subprocess.run([*entry, "routes"], env=env, capture_output=True, text=True, timeout=60)
    assert routes.returncode == 0, routes.stderr
    assert {"/login", "/images/", "/map", "/upload"} <= set(routes.stdout.split())

    listed = subprocess.run([*entry, "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert {"import", "previews", "export", "run", "routes"} <= set(listed.stdout.split())


def test_a_command_runs_with_the_collector_on_and_what_it_loaded_frozen(tmp_path):
    """The collector is off while the commands load, then on, with what they loaded frozen: its
    first pass walks only what came after (switched back on unfrozen, that first pass walked all
    ~110,000 loaded objects at once). A long-running command (`tracker worker`) must not run
    without it."""
    env = {**os.environ, "TRACKER_INSTANCE_PATH": str(tmp_path)}
    script = """
import atexit, gc
from tracker.cli import main
first = []
def note(phase, info):
    if phase == "start" and not first:
        first.append(len(gc.get_objects(generation=info["generation"])))
gc.callbacks.append(note)
atexit.register(lambda: print(gc.isenabled(), *first))
main()
"""
    command = [sys.executable, "-c", script, "routes"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    enabled, walked = done.stdout.split()[-2:]
    assert enabled == "True"
    assert int(walked) < 10_000


def test_the_database_refuses_a_code_that_differs_only_in_case(app, station):
    """The unique index on lower(code), not only the check before insert, keeps them apart."""
    with app.app_context():
        session = get_session()
        with pytest.raises(IntegrityError):
            session.execute(
                insert(Station).values(code="kp-01", name="", latitude=43, longitude=131)
            )
        session.rollback()
