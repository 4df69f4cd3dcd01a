"""Configuration from the environment, as the README documents it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tracker import config, create_app
from tracker.exports.publisher import Publisher

TRACKER = str(Path(sys.executable).with_name("tracker"))


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("TRACKER_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("TRACKER_INSTANCE_PATH", str(tmp_path / "inst"))
    return tmp_path / "inst"


def test_defaults_are_sqlite_and_media_under_instance(clean_env):
    app = create_app()
    assert app.config["DATABASE_URL"] == f"sqlite:///{clean_env / 'tracker.sqlite3'}"
    assert app.config["MEDIA_DIR"] == str(clean_env / "media")
    assert app.config["TIMEZONE"] == "Asia/Vladivostok"
    assert app.instance_path == str(clean_env)


def test_secret_key_is_generated_once_private_and_never_fixed(clean_env):
    first = create_app().config["SECRET_KEY"]
    again = create_app().config["SECRET_KEY"]
    key_file = clean_env / "secret_key"
    assert first == again == key_file.read_text()
    assert len(first) >= 40
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key_file.unlink()
    assert create_app().config["SECRET_KEY"] != first


def test_environment_overrides(clean_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TRACKER_SECRET_KEY", "from-env")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5432/park")
    monkeypatch.setenv("TRACKER_MEDIA_DIR", str(tmp_path / "photos"))
    monkeypatch.setenv("TRACKER_MAX_UPLOAD_MB", "7")
    monkeypatch.setenv("TRACKER_MAX_STORED_MB", "9")
    monkeypatch.setenv("TRACKER_TIMEZONE", "Asia/Harbin")
    monkeypatch.setenv("TRACKER_UPLOAD_KEEP_HOURS", "24")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-env"
    assert app.config["DATABASE_URL"] == "postgresql+psycopg://u:p@db.example:5432/park"
    assert app.config["MEDIA_DIR"] == str(tmp_path / "photos")
    assert app.config["MAX_CONTENT_LENGTH"] == 7 * 1024 * 1024
    assert app.config["MAX_STORED_MB"] == 9
    assert app.config["TIMEZONE"] == "Asia/Harbin"
    assert app.config["UPLOAD_KEEP_HOURS"] == 24
    assert not (clean_env / "secret_key").exists()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("TRACKER_TIMEZONE", "Mars/Olympus", "not an IANA time zone"),
        ("TRACKER_MAX_UPLOAD_MB", "lots", "must be a whole number"),
        ("TRACKER_LICENSE", "CC-BY-SA-4.0", "TRACKER_LICENSE must be one of CC0-1.0"),
        ("TRACKER_PUBLISHER_PACKAGE", "My Park", "TRACKER_PUBLISHER_PACKAGE must be lower case"),
        ("TRACKER_PUBLISHER_TITLE", " ", "TRACKER_PUBLISHER_TITLE must be not empty"),
        ("TRACKER_PARK_CODE", "Land of the Leopard", "TRACKER_PARK_CODE must be 1 to 32"),
        ("TRACKER_MAX_STORED_MB", "4 GB", "must be a whole number"),
        ("TRACKER_UPLOAD_KEEP_HOURS", "3 days", "must be a whole number"),
    ],
)
def test_bad_settings_are_named(clean_env, monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(RuntimeError, match=message):
        create_app()


def test_camtrap_dp_publisher_from_the_environment(clean_env, monkeypatch):
    monkeypatch.setenv("TRACKER_PUBLISHER_NAME", " Sikhote-Alin Reserve ")
    monkeypatch.setenv("TRACKER_LICENSE", "CC0-1.0")
    found = Publisher.from_config(create_app().config)
    assert (found.name, found.license) == ("Sikhote-Alin Reserve", "CC0-1.0")
    assert found.title == Publisher.title  # the rest keeps its default


def test_url_normalisation_keeps_sqlite_and_explicit_drivers():
    assert config.normalise_database_url("sqlite:////x.db") == "sqlite:////x.db"
    assert config.normalise_database_url("postgresql+psycopg://h/d") == "postgresql+psycopg://h/d"


def test_cli_works_on_the_database_the_environment_names(tmp_path):
    db = tmp_path / "field.sqlite3"
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"sqlite:///{db}",
        "TRACKER_INSTANCE_PATH": str(tmp_path / "inst"),
    }
    for args in (["db", "upgrade"], ["station", "add", "KP-01", "--lat", "43.1", "--lon", "131.5"]):
        done = subprocess.run(
            [TRACKER, *args], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    engine = create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT code FROM station")) == "KP-01"
    engine.dispose()
    assert not (tmp_path / "inst" / "tracker.sqlite3").exists()


def test_upload_over_the_limit_gets_the_413_page(app, as_role):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    client = as_role("admin")
    response = client.post("/stations/new", data={"notes": "x" * 5000})
    assert response.status_code == 413
    assert b"larger than this tracker accepts" in response.data
    assert b"Leopard tracker" in response.data
