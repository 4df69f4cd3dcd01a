"""A database that cannot be reached: one line from every command, a 503 page from the web.

Real unreachable databases: a PostgreSQL port nothing listens on, an SQLite file in a folder
that does not exist.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PASSWORD_HASH, sign_in

from tracker import cli, create_app
from tracker.db import get_session
from tracker.models import User
from tracker.synthetic import jpeg_bytes

REPO = Path(__file__).resolve().parent.parent
SECRET = "s3cret-pw"
REASONS = {"sqlite": "unable to open database file", "postgresql": "Connection refused"}


@pytest.fixture
def unreachable(backend, tmp_path) -> tuple[str, str]:
    """A URL of this backend that cannot be reached, and how it is shown (no password)."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path}/no/such/folder/tracker.sqlite3"
        return url, url
    url = f"postgresql+psycopg://tracker:{SECRET}@127.0.0.1:1/tracker"
    return url, "postgresql+psycopg://tracker:***@127.0.0.1:1/tracker"


def _files(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes("2024:03:10 22:15:00"))
    (tmp_path / "stations.csv").write_text("code,name,latitude,longitude\nKP-09,,43.1,131.5\n")
    (tmp_path / "md.json").write_text(
        '{"info": {"format_version": "1.4"}, "detection_categories": {"1": "animal"},'
        ' "images": [{"file": "a.jpg", "detections": []}]}'
    )
    return {"photo": str(tmp_path / "a.jpg"), "csv": str(tmp_path / "stations.csv"),
            "out": str(tmp_path / "out.csv"), "json": str(tmp_path / "md.json")}  # fmt: skip


# Every command that uses the database, with arguments it accepts.
COMMANDS = {
    "db upgrade": ["db", "upgrade"],
    "db downgrade": ["db", "downgrade", "base"],
    "db current": ["db", "current"],
    "db check": ["db", "check"],
    "db revision": ["db", "revision", "-m", "nothing"],
    "user add": ["user", "add", "a@park.test", "--role", "ranger", "--password-stdin"],
    "user set-password": ["user", "set-password", "a@park.test", "--password-stdin"],
    "user deactivate": ["user", "deactivate", "a@park.test"],
    "user token": ["user", "token", "a@park.test"],
    "station add": ["station", "add", "KP-09", "--lat", "43.1", "--lon", "131.5"],
    "station import": ["station", "import", "{csv}"],
    "deployment add": ["deployment", "add", "--station", "KP-09", "--start", "2024-01-01"],
    "deployment outage": ["deployment", "outage", "1", "--from", "2024-02-01"],
    "import": ["import", "{photo}", "--deployment", "1"],
    "previews": ["previews"],
    "export": ["export", "--format", "csv", "--out", "{out}"],
    "demo": ["demo"],
    "worker": ["worker", "--threads", "1"],
    "detections import": ["detections", "import", "{json}", "--deployment", "1"],
    "identify": ["identify", "1"],
    "reference": ["reference", "1", "--unusable"],
}
# Commands that never open the database.
WITHOUT_DATABASE = {"inspect", "media clean", "run", "routes", "shell"}


def test_every_command_is_covered():
    """A new command must say how it behaves without its database: add it to COMMANDS (with
    arguments it accepts) or to WITHOUT_DATABASE."""
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "x", "TESTING": True})
    leaves = set()
    for name, command in app.cli.commands.items():
        subcommands = getattr(command, "commands", None)
        leaves |= {f"{name} {sub}" for sub in subcommands} if subcommands else {name}
    assert leaves - WITHOUT_DATABASE == set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_says_so_in_one_line(name, unreachable, backend, tmp_path, monkeypatch,
                                          capsys):  # fmt: skip
    url, shown = unreachable
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    args = [arg.format(**_files(tmp_path)) for arg in COMMANDS[name]]
    monkeypatch.setattr(sys, "argv", ["tracker", *args])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: cannot reach the database {shown}: ")
    assert REASONS[backend] in err and SECRET not in err


def test_the_real_command_prints_no_traceback(unreachable, backend, tmp_path):
    url, shown = unreachable
    env = os.environ | {"DATABASE_URL": url, "TRACKER_INSTANCE_PATH": str(tmp_path / "i")}
    done = subprocess.run([str(REPO / ".venv/bin/tracker"), "db", "current"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 3
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: cannot reach the database {shown}: ")
    assert "Traceback" not in done.stderr and SECRET not in done.stderr


def test_the_web_answers_503_in_the_site_layout(app, app_config, unreachable, backend):
    with app.app_context():  # someone signs in while the database works
        session = get_session()
        session.add(User(email="ranger@park.test", password_hash=PASSWORD_HASH, role="ranger"))
        session.commit()
    working = app.test_client()
    assert sign_in(working, "ranger@park.test").status_code == 302
    down = create_app(app_config | {"DATABASE_URL": unreachable[0]})
    try:
        client = down.test_client()
        client.set_cookie("session", working.get_cookie("session").value)
        responses = [client.get(path) for path in ("/", "/images/", "/upload")]
        # A visitor is sent to sign in without the database, and signing in needs it.
        responses.append(sign_in(down.test_client(), "ranger@park.test"))
        for response in responses:
            page = response.get_data(as_text=True)
            assert response.status_code == 503, (response.request.path, page[:500])
            assert "Database unavailable" in page and "Leopard tracker" in page
            assert "Sign out" not in page  # drawn as for a visitor: users are in the database
            assert response.headers["Retry-After"] == "60"
            assert SECRET not in page and "Traceback" not in page
    finally:
        down.extensions["tracker.engine"].dispose()
